import { deriveKey, SEAL_VERSION, Sealer, UnsealError } from './sealing';

const KEY = 'c0ffee254729296a45a3885639ac7ca1ec2e9d6be6a3d9c0d4b16e1f3a0c9e7d';
const OTHER_KEY = '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';
const ROW = 'signing_keys:6c1f2f0e-7d0b-4c55-9a55-2b0c1b7f3e10';
const PLAINTEXT = Buffer.from('the private key material', 'utf8');

describe('Sealer', () => {
  const sealer = new Sealer(KEY);

  it('round-trips, with a version byte, a 12-byte nonce, the ciphertext and a 16-byte tag', () => {
    const sealed = sealer.seal('signing-key', PLAINTEXT, ROW);
    expect(sealed[0]).toBe(SEAL_VERSION);
    expect(sealed.length).toBe(1 + 12 + PLAINTEXT.length + 16);
    expect(sealed.includes(PLAINTEXT)).toBe(false);
    expect(sealer.open('signing-key', sealed, ROW)).toEqual(PLAINTEXT);
    expect(new Sealer(KEY).open('signing-key', sealed, ROW)).toEqual(PLAINTEXT);
  });

  it('uses a fresh nonce for every seal', () => {
    const a = sealer.seal('signing-key', PLAINTEXT, ROW);
    const b = sealer.seal('signing-key', PLAINTEXT, ROW);
    expect(a.subarray(1, 13).equals(b.subarray(1, 13))).toBe(false);
    expect(a.equals(b)).toBe(false);
  });

  it('detects tampering with any byte', () => {
    const sealed = sealer.seal('signing-key', PLAINTEXT, ROW);
    for (let i = 1; i < sealed.length; i += 1) {
      const altered = Buffer.from(sealed);
      altered[i] = (altered[i] ?? 0) ^ 0x01;
      expect(() => sealer.open('signing-key', altered, ROW)).toThrow(
        new UnsealError('wrong key, wrong row, or altered'),
      );
    }
    const truncated = sealed.subarray(0, sealed.length - 1);
    expect(() => sealer.open('signing-key', truncated, ROW)).toThrow(UnsealError);
    expect(() => sealer.open('signing-key', sealed.subarray(0, 28), ROW)).toThrow(
      new UnsealError('too short'),
    );
  });

  it('refuses an unknown version', () => {
    const sealed = sealer.seal('signing-key', PLAINTEXT, ROW);
    sealed[0] = 0x02;
    expect(() => sealer.open('signing-key', sealed, ROW)).toThrow(new UnsealError('unknown version 2'));
  });

  it('does not open under another SECRET_KEY', () => {
    const sealed = sealer.seal('signing-key', PLAINTEXT, ROW);
    expect(() => new Sealer(OTHER_KEY).open('signing-key', sealed, ROW)).toThrow(
      new UnsealError('wrong key, wrong row, or altered'),
    );
  });

  it('does not open for another row (associated data) or another purpose', () => {
    const sealed = sealer.seal('signing-key', PLAINTEXT, ROW);
    expect(() =>
      sealer.open('signing-key', sealed, 'signing_keys:00000000-0000-4000-8000-000000000000'),
    ).toThrow(UnsealError);
    expect(() => sealer.open('api-key', sealed, ROW)).toThrow(UnsealError);
  });

  it('derives a distinct 256-bit key per purpose and per SECRET_KEY', () => {
    const keys = [
      deriveKey(KEY, 'signing-key'),
      deriveKey(KEY, 'api-key'),
      deriveKey(KEY, 'key-check'),
      deriveKey(OTHER_KEY, 'signing-key'),
    ];
    expect(keys.map((key) => key.length)).toEqual([32, 32, 32, 32]);
    expect(new Set(keys.map((key) => key.toString('hex'))).size).toBe(4);
    expect(deriveKey(KEY, 'signing-key')).toEqual(keys[0]);
  });

  it('seals an empty value', () => {
    const sealed = sealer.seal('api-key', Buffer.alloc(0), 'api_tokens:1');
    expect(sealer.open('api-key', sealed, 'api_tokens:1')).toEqual(Buffer.alloc(0));
  });
});
