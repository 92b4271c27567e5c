import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * CSRF tokens bound to a secret the browser holds in an HttpOnly cookie: the token in a form is an HMAC of the
 * form's purpose keyed with that secret (the pre-session cookie for the login form, the session token for the
 * sign-out form). A page on another site cannot read the cookie, so it cannot compute the token; a token copied
 * from one browser is worthless in another; and a login token cannot be replayed as a sign-out token.
 */
export type CsrfPurpose = 'login' | 'logout';

export function csrfToken(binding: string, purpose: CsrfPurpose): string {
  return createHmac('sha256', binding).update(`grantry-csrf:${purpose}`).digest('base64url');
}

export function csrfValid(binding: string | undefined, purpose: CsrfPurpose, presented: unknown): boolean {
  if (binding === undefined || typeof presented !== 'string' || presented.length !== 43) return false;
  const expected = Buffer.from(csrfToken(binding, purpose));
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
