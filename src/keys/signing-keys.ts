import { createPrivateKey, generateKeyPair, type KeyObject, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, type JWTPayload, SignJWT } from 'jose';
import type { EntityManager } from 'typeorm';
import type { Sealer } from './sealing';
import { type PublicJwk, type SigningAlgorithm, SigningKeyEntity } from './signing-key.entity';

const generate = promisify(generateKeyPair);

export interface GeneratedKeyPair {
  algorithm: SigningAlgorithm;
  publicJwk: PublicJwk;
  /** RFC 7638 SHA-256 thumbprint of publicJwk, base64url. */
  kid: string;
  /** PKCS#8 DER: the only form the private key takes outside memory, and only sealed. */
  privateKeyDer: Buffer;
}

/**
 * A new key pair: RSA-2048 with e=65537 for RS256 (authentik's default certificate is RSA-2048), P-256 for ES256.
 * Generated off the main thread (libuv's pool); RSA takes ~50-250 ms of CPU, P-256 well under 1 ms.
 */
export async function generateSigningKeyPair(algorithm: SigningAlgorithm): Promise<GeneratedKeyPair> {
  const { publicKey, privateKey } =
    algorithm === 'RS256'
      ? await generate('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
      : await generate('ec', { namedCurve: 'P-256' });
  const exported = publicKey.export({ format: 'jwk' });
  const publicJwk: PublicJwk =
    algorithm === 'RS256'
      ? { kty: 'RSA', n: String(exported.n), e: String(exported.e) }
      : { kty: 'EC', crv: 'P-256', x: String(exported.x), y: String(exported.y) };
  return {
    algorithm,
    publicJwk,
    kid: await calculateJwkThumbprint(publicJwk, 'sha256'),
    privateKeyDer: privateKey.export({ format: 'der', type: 'pkcs8' }),
  };
}

/** The associated data a signing key's private half is sealed with: it opens only in its own row. */
export function signingKeyAad(kpUuid: string): string {
  return `signing_keys:${kpUuid}`;
}

/** Generates, seals and stores a key pair; returns the stored row (without the sealed column). */
export async function createSigningKey(
  manager: EntityManager,
  sealer: Sealer,
  input: { name: string; algorithm: SigningAlgorithm },
): Promise<SigningKeyEntity> {
  return storeSigningKey(manager, sealer, input.name, await generateSigningKeyPair(input.algorithm));
}

/** Stores a generated key pair under `name` (suffixed with the kid's start, as names are unique). */
export async function storeSigningKey(
  manager: EntityManager,
  sealer: Sealer,
  name: string,
  pair: GeneratedKeyPair,
): Promise<SigningKeyEntity> {
  const kpUuid = randomUUID();
  const row = manager.create(SigningKeyEntity, {
    kpUuid,
    name: `${name} (${pair.kid.slice(0, 8)})`,
    algorithm: pair.algorithm,
    kid: pair.kid,
    publicJwk: pair.publicJwk,
    privateKeySealed: sealer.seal('signing-key', pair.privateKeyDer, signingKeyAad(kpUuid)),
  });
  await manager.insert(SigningKeyEntity, row);
  const { privateKeySealed: _sealed, ...stored } = row;
  return stored as SigningKeyEntity;
}

/** The name a provider's key pair gets (authentik names the certificate of a provider after it too). */
export function providerKeyName(providerName: string): string {
  return `${providerName} signing key`;
}

/** A key pair ready to sign: its kid, algorithm and the opened private key (kept in memory only). */
export interface SigningKey {
  kpUuid: string;
  kid: string;
  algorithm: SigningAlgorithm;
  privateKey: KeyObject;
}

/** Opens a stored key pair's private half; UnsealError when SECRET_KEY or the row do not match. */
export async function loadSigningKey(
  manager: EntityManager,
  sealer: Sealer,
  kpUuid: string,
): Promise<SigningKey | null> {
  const row = await manager
    .createQueryBuilder(SigningKeyEntity, 'k')
    .addSelect('k.privateKeySealed')
    .where('k.kpUuid = :kpUuid', { kpUuid })
    .getOne();
  if (!row) return null;
  const der = sealer.open('signing-key', row.privateKeySealed, signingKeyAad(row.kpUuid));
  try {
    return {
      kpUuid: row.kpUuid,
      kid: row.kid,
      algorithm: row.algorithm,
      privateKey: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }),
    };
  } finally {
    der.fill(0);
  }
}

/**
 * Signs `payload` as a JWT with the key pair, as authentik does (`OAuth2Provider.encode`: header alg, kid and typ
 * JWT). The one signing function: access and ID tokens go through it.
 */
export function signJwt(key: SigningKey, payload: JWTPayload): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.algorithm, kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

/** A key pair as JWKS serves it, in authentik's member order (JWKSView: kty, alg, use, kid, then n/e or x/y/crv). */
export function toJwk(
  key: Pick<SigningKeyEntity, 'algorithm' | 'kid' | 'publicJwk'>,
): Record<string, string> {
  const jwk = key.publicJwk;
  return jwk.kty === 'RSA'
    ? { kty: 'RSA', alg: key.algorithm, use: 'sig', kid: key.kid, n: jwk.n, e: jwk.e }
    : { kty: 'EC', alg: key.algorithm, use: 'sig', kid: key.kid, x: jwk.x, y: jwk.y, crv: jwk.crv };
}
