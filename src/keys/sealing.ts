import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Sealing of secrets at rest with SECRET_KEY: AES-256-GCM under a key derived per purpose by HKDF-SHA256, so a key
 * for signing-key material never equals the one for API keys or for the key check. A sealed value is
 *
 *   version (1 byte, 0x01) | nonce (12 random bytes) | ciphertext | GCM tag (16 bytes)
 *
 * and the row's identity (e.g. `signing_keys:<kp_uuid>`) is bound as associated data together with the version, so
 * a sealed value copied into another row, or under another purpose, does not open. Random 96-bit nonces are safe
 * for far more than the 2^32 seals per key NIST allows; Grantry seals a handful per provider.
 */
export const SEAL_VERSION = 0x01;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** A fixed, public HKDF salt: SECRET_KEY is already uniformly random (128 bits or more, checked at start-up). */
const HKDF_SALT = Buffer.from('grantry/sealing/v1', 'utf8');

/** What a key is derived for; each purpose has its own key (`csrf` keys an HMAC rather than sealing). */
export type SealPurpose = 'signing-key' | 'api-key' | 'key-check' | 'csrf' | 'token-view';

export class UnsealError extends Error {
  constructor(reason: string) {
    // Never carries the sealed bytes or the plaintext.
    super(`sealed value cannot be opened: ${reason}`);
    this.name = 'UnsealError';
  }
}

/** HKDF-SHA256(SECRET_KEY, salt, "grantry:<purpose>") -> 32 bytes. */
export function deriveKey(secretKey: string, purpose: SealPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secretKey, 'utf8'), HKDF_SALT, `grantry:${purpose}`, 32));
}

function associatedData(aad: string): Buffer {
  return Buffer.concat([Buffer.from([SEAL_VERSION]), Buffer.from(aad, 'utf8')]);
}

/** Seals and opens values under one SECRET_KEY; derived keys are computed once per purpose. */
export class Sealer {
  private readonly keys = new Map<SealPurpose, Buffer>();

  constructor(private readonly secretKey: string) {}

  key(purpose: SealPurpose): Buffer {
    let key = this.keys.get(purpose);
    if (key === undefined) {
      key = deriveKey(this.secretKey, purpose);
      this.keys.set(purpose, key);
    }
    return key;
  }

  seal(purpose: SealPurpose, plaintext: Buffer, aad: string): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key(purpose), nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(associatedData(aad));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.from([SEAL_VERSION]), nonce, ciphertext, cipher.getAuthTag()]);
  }

  /** The plaintext, or UnsealError when the value was altered, sealed under another key, purpose or row. */
  open(purpose: SealPurpose, sealed: Buffer, aad: string): Buffer {
    if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES) throw new UnsealError('too short');
    if (sealed[0] !== SEAL_VERSION) throw new UnsealError(`unknown version ${sealed[0]}`);
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const ciphertext = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.key(purpose), nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(aad));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw new UnsealError('wrong key, wrong row, or altered');
    }
  }
}
