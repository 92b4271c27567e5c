import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The API only ever answers JSON (and YAML): nothing it sends may run script, load anything, or be framed.
 */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * The Swagger UI is served from this origin (swagger-ui-dist, no CDN), and its page and init script are external
 * files, so script-src needs nothing inline. Its page carries two inline <style> blocks and a style attribute,
 * hence 'unsafe-inline' for styles only; its icons are data: URIs. "Try it out" calls the API on this origin.
 */
export const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers every response carries (also the ones written straight to the socket, see client-errors.ts). */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/**
 * The onSend hook: request id, security headers, and `Cache-Control: no-store` unless the route chose its own
 * caching (the Swagger UI's static files do). Plain property writes on a reply, no allocation per request.
 */
export function responseHeadersHook(docsPrefix: string) {
  return function onSend(
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    done: (error: null, payload: unknown) => void,
  ): void {
    void reply
      .header('x-request-id', request.id)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      // The raw URL, not the route: "//api/v3//docs/" reaches the UI too, and gets the stricter policy, which is
      // the safe way to be wrong. The browser pages (src/sessions) set their own.
      .header(
        'content-security-policy',
        reply.getHeader('content-security-policy') ??
          (request.url.startsWith(docsPrefix) ? DOCS_CSP : API_CSP),
      );
    if (reply.getHeader('cache-control') === undefined) void reply.header('cache-control', 'no-store');
    done(null, payload);
  };
}
