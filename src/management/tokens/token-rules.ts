import { randomBytes } from 'node:crypto';

/** authentik's default_token_duration (tenant knob, fixed in Grantry): one day. */
export const DEFAULT_TOKEN_DURATION_MS = 86_400_000;
/** How long after a key is set `view_key/` may hand it out (once). */
export const KEY_VIEW_WINDOW_MS = 10 * 60_000;
/** authentik's default_token_key length (tenant knob, fixed). */
export const TOKEN_KEY_LENGTH = 60;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A new key as authentik makes them: 60 characters of [A-Za-z0-9] (about 357 bits), without modulo bias. */
export function generateTokenKey(): string {
  let out = '';
  while (out.length < TOKEN_KEY_LENGTH) {
    for (const byte of randomBytes(TOKEN_KEY_LENGTH)) {
      // 248 = 4 * 62: bytes above it would favour the first letters.
      if (byte < 248 && out.length < TOKEN_KEY_LENGTH) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

/** Python's str() of an aware UTC datetime: `2026-12-01 16:00:00.123000+00:00` (no fraction when it is zero). */
export function pyDatetime(date: Date): string {
  const iso = date.toISOString();
  const ms = date.getUTCMilliseconds();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${ms === 0 ? '' : `.${String(ms * 1000).padStart(6, '0')}`}+00:00`;
}

/** authentik's Token.__str__, the `name` its events give a token: `<identifier> (expires=<datetime>)` if expiring. */
export function tokenName(token: { identifier: string; expiring: boolean; expires: Date | null }): string {
  if (!token.expiring) return token.identifier;
  return `${token.identifier} (expires=${token.expires ? pyDatetime(token.expires) : 'None'})`;
}

const TIMEDELTA_MS: Record<string, number> = {
  weeks: 604_800_000,
  days: 86_400_000,
  hours: 3_600_000,
  minutes: 60_000,
  seconds: 1000,
  milliseconds: 1,
  microseconds: 0.001,
};

/** authentik's timedelta_from_string (`days=1;hours=2`), in milliseconds, or null when it does not parse. */
export function parseTimedelta(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  let total = 0;
  for (const part of value.split(';')) {
    if (part.trim() === '') continue;
    const [key, amount, ...rest] = part.split('=');
    const unit = TIMEDELTA_MS[key?.trim() ?? ''];
    const number = Number(amount?.trim());
    if (rest.length > 0 || unit === undefined || amount?.trim() === '' || !Number.isFinite(number))
      return null;
    total += unit * number;
  }
  return Number.isFinite(total) ? total : null;
}
