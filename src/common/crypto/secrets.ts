import { createHash, randomBytes } from 'node:crypto';

/** SHA-256 of a presented secret: the only form in which keys, tokens and codes are stored. */
export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** A new random secret: 64 characters of base64url (384 bits). */
export function generateSecret(): string {
  return randomBytes(48).toString('base64url');
}

/** A random client id as authentik makes them: 40 alphanumeric characters. */
export function generateClientId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(40);
  let out = '';
  for (const byte of bytes) out += alphabet[byte % alphabet.length];
  return out;
}
