/**
 * The load generator, run by the harness in a child process of its own (so its CPU is not the harness's): receives
 * one load description over IPC, runs autocannon for that long (or until a `stop` message) and sends back the numbers.
 */
import autocannon from 'autocannon';

export interface LoadRequest {
  url: string;
  /** Paths (with query) cycled through, one per request. */
  paths: string[];
  headers: Record<string, string>;
  connections: number;
  /** Seconds. */
  duration: number;
  /** Seconds before a request counts as timed out. */
  timeout: number;
  /** GET when absent. */
  method?: 'GET' | 'POST';
  /** Request bodies, one per request in turn (POST); cycled, unless `singleUse`. */
  bodies?: string[];
  /**
   * Each body is sent once (authorization codes, rotating refresh tokens): when they run out, the remaining requests
   * carry `exhaustedBody` (answered 400, so not counted) and the result says `exhausted`.
   */
  singleUse?: boolean;
  exhaustedBody?: string;
  /** Requests per second over all connections (autocannon's overallRate): a fixed-rate background load. */
  rate?: number;
}

export interface LoadResult {
  /** Responses with a 2xx status. */
  ok: number;
  /** Responses with another status, and connection errors (timeouts included). */
  non2xx: number;
  errors: number;
  /** Seconds the run really took. */
  duration: number;
  /** Successful requests per second. */
  rps: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  statusCodes: Record<string, number>;
  /** A single-use body list ran out before the end. */
  exhausted?: boolean;
  /** Bodies handed out (requests built). */
  used?: number;
}

let instance: (ReturnType<typeof autocannon> & { stop?: () => void }) | undefined;
let stopRequested = false;

async function run(request: LoadRequest): Promise<LoadResult> {
  let next = 0;
  let exhausted = false;
  const { paths, bodies } = request;
  instance = autocannon({
    url: request.url,
    connections: request.connections,
    duration: request.duration,
    timeout: request.timeout,
    headers: request.headers,
    ...(request.rate !== undefined ? { overallRate: request.rate } : {}),
    requests: [
      {
        method: request.method ?? 'GET',
        setupRequest: (req) => {
          const path = paths[next % paths.length] ?? '/';
          let body: string | undefined;
          if (bodies && bodies.length > 0) {
            if (request.singleUse && next >= bodies.length) {
              exhausted = true;
              body = request.exhaustedBody ?? '';
            } else body = bodies[next % bodies.length];
          }
          next += 1;
          return body === undefined ? { ...req, path } : { ...req, path, body };
        },
      },
    ],
  });
  if (stopRequested) instance.stop?.();
  const result = await instance;
  const statusCodes: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) {
    statusCodes[code] = stats.count ?? 0;
  }
  const duration = result.duration > 0 ? result.duration : request.duration;
  return {
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    duration,
    rps: result['2xx'] / duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    statusCodes,
    ...(request.singleUse ? { exhausted, used: Math.min(next, bodies?.length ?? 0) } : {}),
  };
}

process.once('message', (message: LoadRequest) => {
  // A later `stop` message ends a background load early (its result is still sent).
  process.on('message', (later: unknown) => {
    if (later === 'stop') {
      stopRequested = true;
      instance?.stop?.();
    }
  });
  run(message)
    .then((result) => process.send?.({ result }, () => process.exit(0)))
    .catch((error: unknown) => process.send?.({ error: String(error) }, () => process.exit(1)));
});
