/**
 * The load generator, run by the harness in a child process of its own (so its CPU is not the harness's): receives
 * one load description over IPC, runs autocannon for that long and sends back the numbers.
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
}

async function run(request: LoadRequest): Promise<LoadResult> {
  let next = 0;
  const { paths } = request;
  const result = await autocannon({
    url: request.url,
    connections: request.connections,
    duration: request.duration,
    timeout: request.timeout,
    headers: request.headers,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => {
          const path = paths[next % paths.length] ?? '/';
          next += 1;
          return { ...req, path };
        },
      },
    ],
  });
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
  };
}

process.once('message', (message: LoadRequest) => {
  run(message)
    .then((result) => process.send?.({ result }, () => process.exit(0)))
    .catch((error: unknown) => process.send?.({ error: String(error) }, () => process.exit(1)));
});
