import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../../../config/config';
import type { RedirectUri } from '../../../providers/oauth2-provider.entity';
import { TokenError } from './oauth-errors';

/** A form field of a POST (application/x-www-form-urlencoded, parsed in app.ts for FORM_ROUTES), else undefined. */
export function formField(request: FastifyRequest, name: string): string | undefined {
  const body = request.body;
  return body instanceof URLSearchParams ? (body.get(name) ?? undefined) : undefined;
}

/** A query parameter (the first, when repeated), else undefined. */
export function queryField(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/**
 * The base URL issuers and endpoints are built on: PUBLIC_URL, else the request's scheme and host (Fastify reads
 * X-Forwarded-Proto and X-Forwarded-Host only from TRUSTED_PROXIES), as authentik builds it from the request.
 */
export function baseUrl(request: FastifyRequest, config: Pick<AppConfig, 'publicUrl'>): string {
  if (config.publicUrl !== undefined) return config.publicUrl;
  return `${request.protocol}://${request.host}`;
}

/** authentik's TokenResponse: JSON that no cache keeps. */
export function sendJson(reply: FastifyReply, status: number, body: unknown): void {
  void reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .type('application/json')
    .send(JSON.stringify(body));
}

export function sendTokenError(reply: FastifyReply, request: FastifyRequest, error: TokenError): void {
  for (const [name, value] of Object.entries(error.headers)) void reply.header(name, value);
  sendJson(reply, error.status, error.body(request.id));
}

/**
 * authentik's cors_allow: an Origin is echoed, with credentials, only when it is the origin of one of the provider's
 * redirect URIs (a browser app calling the token endpoint from its own origin).
 */
export function allowCors(
  request: FastifyRequest,
  reply: FastifyReply,
  redirectUris: readonly RedirectUri[],
): void {
  const origin = request.headers.origin;
  if (typeof origin !== 'string') return;
  const allowed = redirectUris.some((uri) => {
    if (uri.matching_mode !== 'strict') return false;
    try {
      return new URL(uri.url).origin === origin;
    } catch {
      return false;
    }
  });
  void reply.header('vary', 'Origin');
  if (allowed) allowOrigin(reply, origin);
}

/** The CORS headers that let `origin` read the answer, with credentials. */
export function allowOrigin(reply: FastifyReply, origin: string): void {
  void reply
    .header('access-control-allow-origin', origin)
    .header('access-control-allow-credentials', 'true')
    .header('access-control-allow-methods', 'GET, POST, OPTIONS')
    .header('access-control-allow-headers', 'Authorization, Content-Type');
}
