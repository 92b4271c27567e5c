import { Injectable } from '@nestjs/common';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Sealer } from '../keys/sealing';

/**
 * CSRF tokens: the token in a form is an HMAC, under a key derived from SECRET_KEY, of the form's purpose and a
 * secret the browser holds in an HttpOnly cookie (the pre-session cookie for the login form, the session token for
 * the sign-out form). A page on another site can read neither, so it cannot compute the token; a token copied from
 * one browser is worthless in another; a login token cannot be replayed as a sign-out token; and a cookie planted by
 * a sibling subdomain over plain http does not help, because the token also needs SECRET_KEY.
 */
export type CsrfPurpose = 'login' | 'logout' | 'consent' | 'device';

/** Length of a token: base64url of 32 bytes. */
const TOKEN_LENGTH = 43;

@Injectable()
export class CsrfTokens {
  constructor(private readonly sealer: Sealer) {}

  token(binding: string, purpose: CsrfPurpose): string {
    return createHmac('sha256', this.secret()).update(`${purpose}\0${binding}`).digest('base64url');
  }

  valid(binding: string | undefined, purpose: CsrfPurpose, presented: unknown): boolean {
    if (binding === undefined || typeof presented !== 'string' || presented.length !== TOKEN_LENGTH)
      return false;
    const expected = Buffer.from(this.token(binding, purpose));
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** The HMAC key, derived from SECRET_KEY for this purpose only (the app's Sealer caches it). */
  private secret(): Buffer {
    return this.sealer.key('csrf');
  }
}
