import { createHash, timingSafeEqual } from 'node:crypto';

export const PKCE_METHODS = ['plain', 'S256'] as const;
export type PkceMethod = (typeof PKCE_METHODS)[number];

/** RFC 7636 §4.1: a verifier is 43-128 characters of [A-Za-z0-9-._~]; authentik checks no shape, nor does Grantry. */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/**
 * Whether `verifier` answers the stored challenge: S256 compares base64url(SHA-256(verifier)), plain compares the
 * verifier itself, both in constant time (authentik compares with ==). The lengths are compared first; a challenge's
 * length is not a secret.
 */
export function verifierMatches(challenge: string, method: PkceMethod, verifier: string): boolean {
  const expected = Buffer.from(challenge, 'utf8');
  const presented = Buffer.from(method === 'S256' ? s256(verifier) : verifier, 'utf8');
  return expected.length === presented.length && timingSafeEqual(expected, presented);
}
