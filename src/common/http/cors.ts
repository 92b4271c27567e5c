import type { FastifyReply, FastifyRequest } from 'fastify';

const ALLOW_METHODS = 'GET, HEAD, DELETE, OPTIONS';
const ALLOW_HEADERS = 'Authorization, Content-Type, X-Request-Id';
const EXPOSE_HEADERS = 'Allow, Retry-After, X-Request-Id';

/**
 * CORS for the origins in CORS_ORIGINS, exact match only (registered only when there are some). Keys travel in the
 * Authorization header, which a cross-origin fetch may send once the preflight allows it, so credentialed requests
 * (cookies) are never allowed: no Access-Control-Allow-Credentials, and the allowed origin is always echoed, never
 * `*`. Preflights from listed origins are answered here, before authentication (a preflight carries no key);
 * anything else from an unlisted origin proceeds without CORS headers, so the browser withholds the response.
 */
export function corsHook(origins: readonly string[]) {
  const allowed = new Set(origins);
  return function onRequest(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    // Every answer depends on Origin once CORS is on, so caches must key on it.
    void reply.header('vary', 'Origin');
    const origin = request.headers.origin;
    if (origin === undefined || !allowed.has(origin)) {
      done();
      return;
    }
    void reply.header('access-control-allow-origin', origin);
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      void reply
        .header('access-control-allow-methods', ALLOW_METHODS)
        .header('access-control-allow-headers', ALLOW_HEADERS)
        .header('access-control-max-age', '600')
        .code(204)
        .send();
      return;
    }
    void reply.header('access-control-expose-headers', EXPOSE_HEADERS);
    done();
  };
}
