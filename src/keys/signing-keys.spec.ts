import { createPrivateKey, createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { generateSigningKeyPair, signJwt, toJwk } from './signing-keys';

describe('generateSigningKeyPair', () => {
  it('makes an RSA-2048 key (e = 65537) for RS256 whose kid is its RFC 7638 thumbprint', async () => {
    const pair = await generateSigningKeyPair('RS256');
    expect(Object.keys(pair.publicJwk).sort()).toEqual(['e', 'kty', 'n']);
    expect(pair.publicJwk).toMatchObject({ kty: 'RSA', e: 'AQAB' });
    const publicKey = createPublicKey({ key: pair.publicJwk, format: 'jwk' });
    expect(publicKey.asymmetricKeyDetails).toMatchObject({ modulusLength: 2048 });
    expect(pair.kid).toBe(await calculateJwkThumbprint(pair.publicJwk, 'sha256'));
    expect(pair.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const privateKey = createPrivateKey({ key: pair.privateKeyDer, format: 'der', type: 'pkcs8' });
    expect(privateKey.asymmetricKeyType).toBe('rsa');
  });

  it('makes a P-256 key for ES256', async () => {
    const pair = await generateSigningKeyPair('ES256');
    expect(Object.keys(pair.publicJwk).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    expect(pair.publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(pair.kid).toBe(await calculateJwkThumbprint(pair.publicJwk, 'sha256'));
    const privateKey = createPrivateKey({ key: pair.privateKeyDer, format: 'der', type: 'pkcs8' });
    expect(privateKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
  });

  it('makes a different key every time', async () => {
    const [a, b] = await Promise.all([generateSigningKeyPair('ES256'), generateSigningKeyPair('ES256')]);
    expect(a.kid).not.toBe(b.kid);
  });

  it.each(['RS256', 'ES256'] as const)(
    '%s: signJwt output verifies against toJwk, with alg, kid and typ',
    async (alg) => {
      const pair = await generateSigningKeyPair(alg);
      const key = {
        kpUuid: '6c1f2f0e-7d0b-4c55-9a55-2b0c1b7f3e10',
        kid: pair.kid,
        algorithm: alg,
        privateKey: createPrivateKey({ key: pair.privateKeyDer, format: 'der', type: 'pkcs8' }),
      };
      const jwt = await signJwt(key, {
        sub: 'alice',
        aud: 'client',
        iss: 'https://grantry.test/application/o/x/',
      });
      expect(decodeProtectedHeader(jwt)).toEqual({ alg, kid: pair.kid, typ: 'JWT' });
      const jwk = toJwk({ algorithm: alg, kid: pair.kid, publicJwk: pair.publicJwk });
      const { payload } = await jwtVerify(jwt, await importJWK(jwk, alg), { audience: 'client' });
      expect(payload).toEqual({ sub: 'alice', aud: 'client', iss: 'https://grantry.test/application/o/x/' });
      const other = await generateSigningKeyPair(alg);
      await expect(
        jwtVerify(
          jwt,
          await importJWK(toJwk({ algorithm: alg, kid: other.kid, publicJwk: other.publicJwk }), alg),
        ),
      ).rejects.toThrow('signature verification failed');
    },
  );

  it("toJwk serves authentik's members in its order, and never a private member", async () => {
    const rsa = await generateSigningKeyPair('RS256');
    const ec = await generateSigningKeyPair('ES256');
    const rsaJwk = toJwk({ algorithm: 'RS256', kid: rsa.kid, publicJwk: rsa.publicJwk });
    const ecJwk = toJwk({ algorithm: 'ES256', kid: ec.kid, publicJwk: ec.publicJwk });
    expect(Object.keys(rsaJwk)).toEqual(['kty', 'alg', 'use', 'kid', 'n', 'e']);
    expect(Object.keys(ecJwk)).toEqual(['kty', 'alg', 'use', 'kid', 'x', 'y', 'crv']);
    expect(rsaJwk).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: rsa.kid });
    expect(ecJwk).toMatchObject({ kty: 'EC', alg: 'ES256', use: 'sig', kid: ec.kid, crv: 'P-256' });
  });
});
