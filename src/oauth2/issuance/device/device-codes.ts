import { randomBytes, randomInt } from 'node:crypto';

/**
 * The device code's alphabet: letters, digits and `-._`, the characters that neither a URL nor an
 * application/x-www-form-urlencoded body ever escapes, so a device can send the code back as it got it. authentik's
 * generate_key also uses punctuation (`!"#$%...`), which clients then have to escape; 65 symbols over 128 characters
 * is still about 770 bits.
 */
export const DEVICE_CODE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._';
export const DEVICE_CODE_LENGTH = 128;

/** The largest multiple of the alphabet's size below 256: bytes from it up are dropped, so no symbol is likelier. */
const UNBIASED_BELOW = 256 - (256 % DEVICE_CODE_ALPHABET.length);

/** authentik's generate_key(128), in the alphabet above. */
export function generateDeviceCode(): string {
  let out = '';
  while (out.length < DEVICE_CODE_LENGTH) {
    for (const byte of randomBytes(DEVICE_CODE_LENGTH)) {
      if (byte < UNBIASED_BELOW) out += DEVICE_CODE_ALPHABET[byte % DEVICE_CODE_ALPHABET.length];
      if (out.length === DEVICE_CODE_LENGTH) break;
    }
  }
  return out;
}

export const USER_CODE_LENGTH = 9;

/** authentik's generate_code_fixed_length(9): nine random digits, a leading zero included. */
export function generateUserCode(): string {
  return String(randomInt(0, 10 ** USER_CODE_LENGTH)).padStart(USER_CODE_LENGTH, '0');
}

/** Longest text taken from the code field; anything longer is no code and is not looked at further. */
const MAX_TYPED = 64;

/**
 * A user code as a person typed it: spaces and dashes (`123 456 789`, `123-456-789`) are dropped, so is a trailing
 * newline a paste brings. Undefined when what is left is not nine digits (it cannot be anyone's code).
 */
export function normalizeUserCode(typed: string | undefined): string | undefined {
  if (typed === undefined || typed.length > MAX_TYPED) return undefined;
  const code = typed.replace(/[\s-]/g, '');
  return /^[0-9]{9}$/.test(code) ? code : undefined;
}

/** A user code as a page shows it: `123 456 789`, easier to compare with a screen than nine digits in a row. */
export function displayUserCode(code: string): string {
  return code.replace(/^(\d{3})(\d{3})(\d{3})$/, '$1 $2 $3');
}
