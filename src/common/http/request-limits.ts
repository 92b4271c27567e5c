import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { API_CSP, COMMON_HEADERS } from './response-headers';

export const TOO_LARGE = {
  body: 'Request body too large.',
  headers: 'Request header fields too large.',
} as const;

/** Methods whose body Fastify never reads; anything sent with them is drained by Node after the response. */
const UNREAD_BODY = new Set(['GET', 'HEAD', 'TRACE']);

function tooLarge(reply: FastifyReply): void {
  // Closing is the only way to stop a client that is still sending: a kept-alive connection would have to read
  // (and discard) the rest of the body before the next request.
  void reply
    .code(413)
    .header('connection', 'close')
    .type('application/json')
    .send({ detail: TOO_LARGE.body });
}

/**
 * An onRequest hook enforcing the body limit on every method. Fastify's own bodyLimit applies only where it parses
 * a body (POST, PUT, PATCH, DELETE with a Content-Type); a GET that announces a huge body would otherwise get its
 * answer and then have the body drained, byte by byte, before the connection can serve anything else.
 *
 * A declared Content-Length is checked before any of the body is read. A chunked body on a method Fastify does not
 * read is counted as it arrives, and the request proceeds once it ended within the limit.
 */
export function bodyLimitHook(limit: number) {
  return function onRequest(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    const headers = request.headers;
    const length = headers['content-length'];
    if (length !== undefined) {
      // Node has already refused a Content-Length that is not digits, or given twice with different values.
      if (length.length > 15 || Number(length) > limit) tooLarge(reply);
      else done();
      return;
    }
    if (headers['transfer-encoding'] === undefined || !UNREAD_BODY.has(request.method)) {
      done();
      return;
    }
    const raw = request.raw;
    let received = 0;
    const cleanup = (): void => {
      raw.off('data', onData);
      raw.off('end', onEnd);
      raw.off('error', cleanup);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received <= limit) return;
      cleanup();
      tooLarge(reply);
    };
    const onEnd = (): void => {
      cleanup();
      done();
    };
    raw.on('data', onData);
    raw.on('end', onEnd);
    raw.on('error', cleanup);
  };
}

const RAW_HEADERS = [
  'Content-Type: application/json',
  'Connection: close',
  'Cache-Control: no-store',
  `Content-Security-Policy: ${API_CSP}`,
  ...Object.entries(COMMON_HEADERS).map(([name, value]) => `${name}: ${value}`),
].join('\r\n');

/**
 * Answers what Node's HTTP parser rejects before Fastify sees a request (Fastify's clientErrorHandler), in
 * authentik's error shape: 431 for a request head beyond MAX_HEADER_BYTES, 408 for a request that took too long to
 * arrive, 400 for anything unparseable. Only the error code is logged: Node attaches the raw bytes received
 * (`rawPacket`), which may include an Authorization header.
 */
export function clientErrorHandler(
  this: FastifyInstance,
  error: Error & { code?: string },
  socket: Duplex,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, detail] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, TOO_LARGE.headers]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request timeout.']
        : [400, 'Bad request.'];
  this.log.debug({ code: error.code, status }, 'client error');
  if (socket.writable) {
    const body = JSON.stringify({ detail });
    // An answer to HEAD has no content (RFC 9110 9.3.2); a client would read a body as the start of the next
    // response. The request line is in the bytes Node received, even when the headers after it were too large.
    const head = (error as { rawPacket?: Buffer }).rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${RAW_HEADERS}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${head ? '' : body}`,
    );
  }
  socket.destroy();
}

/**
 * Fastify's frameworkErrors: what its router rejects before any route runs, in authentik's error shape. A path
 * segment with malformed percent-encoding, or one longer than the router takes, names no object: 404, as Django
 * answers a URL that matches nothing. Fastify's own bodies would echo the whole path.
 */
export function frameworkErrorHandler(
  error: Error & { code?: string },
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const notFound = error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_MAX_PARAM_LENGTH';
  request.log.debug({ code: error.code }, 'rejected by the router');
  // These answers do not pass the instance's hooks, so they carry the common headers here.
  void reply
    .code(notFound ? 404 : 400)
    .headers({ ...COMMON_HEADERS, 'cache-control': 'no-store', 'content-security-policy': API_CSP })
    .type('application/json')
    .send(JSON.stringify({ detail: notFound ? 'Not found.' : 'Bad request.' }));
}
