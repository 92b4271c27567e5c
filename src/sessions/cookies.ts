import type { FastifyRequest } from 'fastify';

/**
 * The request's cookies by name (first one wins). Grantry's own cookie values are base64url, so no decoding is
 * needed; anything else is returned as sent.
 */
export function readCookies(request: FastifyRequest): Map<string, string> {
  const header = request.headers.cookie;
  const cookies = new Map<string, string>();
  if (typeof header !== 'string') return cookies;
  for (const part of header.split(';')) {
    const equals = part.indexOf('=');
    if (equals < 0) continue;
    const name = part.slice(0, equals).trim();
    if (name.length > 0 && !cookies.has(name)) cookies.set(name, part.slice(equals + 1).trim());
  }
  return cookies;
}

/**
 * Whether the browser reached Grantry over https: the connection's own scheme, or X-Forwarded-Proto from a peer in
 * TRUSTED_PROXIES (Fastify's request.protocol reads the header only when trustProxy accepts the peer).
 */
export function isSecure(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

/**
 * A cookie's name for this request: `__Host-<name>` over https (the browser then insists on Secure, Path=/ and no
 * Domain, so no sibling subdomain can plant or overwrite it), the bare name over plain http, where `__Host-` cookies
 * cannot be set.
 */
export function cookieName(request: FastifyRequest, name: string): string {
  return isSecure(request) ? `__Host-${name}` : name;
}

/** A Set-Cookie value: HttpOnly, SameSite=Lax, Path=/, and Secure over https. `maxAge` undefined: until the browser closes. */
export function setCookie(request: FastifyRequest, name: string, value: string, maxAge?: number): string {
  return [
    `${cookieName(request, name)}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Lax',
    ...(isSecure(request) ? ['Secure'] : []),
    ...(maxAge === undefined ? [] : [`Max-Age=${maxAge}`]),
  ].join('; ');
}

/** Deletes a cookie set by setCookie. */
export function clearCookie(request: FastifyRequest, name: string): string {
  return setCookie(request, name, '', 0);
}

/** A cookie value Grantry set: 43 characters of base64url (256 bits). Anything else is ignored. */
export const TOKEN_VALUE = /^[A-Za-z0-9_-]{43}$/;

export function readToken(request: FastifyRequest, name: string): string | undefined {
  const value = readCookies(request).get(cookieName(request, name));
  return value !== undefined && TOKEN_VALUE.test(value) ? value : undefined;
}
