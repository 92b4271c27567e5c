import { randomBytes, scrypt, type ScryptOptions, timingSafeEqual } from 'node:crypto';

/**
 * Passwords are stored as `scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>` (salt and hash in unpadded base64), the
 * shape of the PHC string format: the parameters travel with each hash, so raising them later needs no migration
 * (old hashes verify with their own parameters; needsRehash says when to store a new one).
 *
 * N = 2^15, r = 8, p = 1 costs 32 MiB and measured about 90 ms on the development machine (2^14 took about 50 ms).
 */
export const PASSWORD_PARAMS = { ln: 15, r: 8, p: 1 } as const;
export const PASSWORD_MIN_LENGTH = 8;
/** scrypt reads the whole password; a megabyte of "password" is a denial of service, not a password. */
export const PASSWORD_MAX_LENGTH = 1024;

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const FORMAT =
  /^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,88})\$([A-Za-z0-9+/]{43,88})$/;

interface Params {
  ln: number;
  r: number;
  p: number;
}

function derive(password: string, salt: Buffer, params: Params, length: number): Promise<Buffer> {
  const options: ScryptOptions = {
    N: 2 ** params.ln,
    r: params.r,
    p: params.p,
    // Node's default (32 MiB) is exactly what N=2^15, r=8 needs, and scrypt wants a little more than that.
    maxmem: 256 * 2 ** params.ln * params.r + 1024 * 1024,
  };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, length, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** Why a password cannot be set, or undefined when it can. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < PASSWORD_MIN_LENGTH)
    return `the password must be at least ${PASSWORD_MIN_LENGTH} characters long`;
  if (password.length > PASSWORD_MAX_LENGTH)
    return `the password must be at most ${PASSWORD_MAX_LENGTH} characters long`;
  return undefined;
}

/** A new hash of `password`, with a fresh random salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, PASSWORD_PARAMS, HASH_BYTES);
  const { ln, r, p } = PASSWORD_PARAMS;
  return `scrypt$ln=${ln},r=${r},p=${p}$${salt.toString('base64').replace(/=+$/, '')}$${hash
    .toString('base64')
    .replace(/=+$/, '')}`;
}

function parse(stored: string): { params: Params; salt: Buffer; hash: Buffer } | undefined {
  const match = FORMAT.exec(stored);
  if (!match) return undefined;
  const [, ln, r, p, salt = '', hash = ''] = match;
  const params = { ln: Number(ln), r: Number(r), p: Number(p) };
  // Bounds that keep a tampered row from asking for gigabytes of memory.
  if (params.ln < 10 || params.ln > 20 || params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16)
    return undefined;
  return { params, salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
}

/** A hash of a password nobody has, in the current parameters: what an unknown user's password is checked against. */
let dummy: Promise<string> | undefined;

/** Makes the dummy hash now (at start-up), so that the first unknown name does not take two hashes' time. */
export async function prepareDummyHash(): Promise<void> {
  dummy ??= hashPassword(randomBytes(18).toString('base64'));
  await dummy;
}

/**
 * Whether `password` matches `stored`. With `stored` null or unreadable (an unknown user, a user without a
 * password), the same scrypt work is done against a dummy hash and the answer is false, so the time taken does not
 * say which usernames exist or have a password. The comparison is constant-time.
 */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parsed = stored === null ? undefined : parse(stored);
  if (parsed === undefined || password.length > PASSWORD_MAX_LENGTH) {
    dummy ??= hashPassword(randomBytes(18).toString('base64'));
    const fake = parse(await dummy);
    if (fake) await derive(password.slice(0, PASSWORD_MAX_LENGTH), fake.salt, fake.params, fake.hash.length);
    return false;
  }
  const derived = await derive(password, parsed.salt, parsed.params, parsed.hash.length);
  return derived.length === parsed.hash.length && timingSafeEqual(derived, parsed.hash);
}

/** Whether a stored hash was made with other parameters than today's (it should be replaced at the next login). */
export function needsRehash(stored: string): boolean {
  const parsed = parse(stored);
  return (
    parsed === undefined ||
    parsed.params.ln !== PASSWORD_PARAMS.ln ||
    parsed.params.r !== PASSWORD_PARAMS.r ||
    parsed.params.p !== PASSWORD_PARAMS.p
  );
}
