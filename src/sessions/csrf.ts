import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { deriveKey } from '../keys/sealing';
import { resolveSecretKey } from '../keys/secret-key';

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
  private readonly logger = new Logger(CsrfTokens.name);
  private key: Buffer | undefined;
  /** resolveSecretKey logs pino-style (fields, message); only where a generated key went, never the key. */
  private readonly log = {
    info: (fields: object, message: string) => this.logger.log(`${message} ${JSON.stringify(fields)}`),
    warn: (fields: object, message: string) => this.logger.warn(`${message} ${JSON.stringify(fields)}`),
  } as unknown as Parameters<typeof resolveSecretKey>[1];

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

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

  /**
   * Derived once, at first use: the server has resolved (or generated) SECRET_KEY at start-up by then, and a server
   * still waiting for its migrations resolves the same file (its creation is atomic).
   */
  private secret(): Buffer {
    this.key ??= deriveKey(resolveSecretKey(this.config, this.log), 'csrf');
    return this.key;
  }
}
