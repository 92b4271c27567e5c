import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../config/config';
import { resolveSecretKey, SECRET_KEY_FILE, secretKeyCheckValue } from './secret-key';

const KEY = 'c0ffee254729296a45a3885639ac7ca1ec2e9d6be6a3d9c0d4b16e1f3a0c9e7d';

describe('resolveSecretKey', () => {
  let dir: string;
  const logged: unknown[][] = [];
  const logger = {
    info: (...args: unknown[]) => logged.push(args),
    warn: (...args: unknown[]) => logged.push(args),
  };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantry-secret-key-'));
    logged.length = 0;
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('uses SECRET_KEY when set, and writes nothing', () => {
    expect(resolveSecretKey({ secretKey: KEY, dataDir: dir }, logger)).toBe(KEY);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(logged).toEqual([]);
  });

  it('generates 256 random bits into DATA_DIR/secret-key (0600) once, logging the path only, then reads it back', () => {
    const dataDir = path.join(dir, 'data');
    const first = resolveSecretKey({ secretKey: undefined, dataDir }, logger);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    const file = path.join(dataDir, SECRET_KEY_FILE);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${first}\n`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(logged).toEqual([
      [{ file }, expect.stringContaining('SECRET_KEY is not set, so one was generated')],
    ]);
    expect(JSON.stringify(logged)).not.toContain(first);
    expect(resolveSecretKey({ secretKey: undefined, dataDir }, logger)).toBe(first);
    expect(logged).toHaveLength(1);
    expect(fs.readdirSync(dataDir)).toEqual([SECRET_KEY_FILE]);
  });

  it('refuses a weak or unreadable key file, naming SECRET_KEY and the file but not its content', () => {
    const file = path.join(dir, SECRET_KEY_FILE);
    fs.writeFileSync(file, 'hunter2\n', { mode: 0o600 });
    expect(() => resolveSecretKey({ secretKey: undefined, dataDir: dir }, logger)).toThrow(
      new ConfigError(
        'SECRET_KEY',
        `in ${file} must be at least 32 characters long (128 bits or more; e.g. "openssl rand -hex 32"), got 7`,
      ),
    );
    fs.rmSync(file);
    fs.mkdirSync(file);
    expect(() => resolveSecretKey({ secretKey: undefined, dataDir: dir }, logger)).toThrow(
      new ConfigError('SECRET_KEY', `is not set and ${file} cannot be read (EISDIR)`),
    );
  });
});

describe('secretKeyCheckValue', () => {
  it('is a fixed 32-byte value per key, different for different keys, and not the key', () => {
    const check = secretKeyCheckValue(KEY);
    expect(check).toHaveLength(32);
    expect(secretKeyCheckValue(KEY)).toEqual(check);
    expect(secretKeyCheckValue(`${KEY.slice(0, -1)}e`)).not.toEqual(check);
    expect(check.toString('hex')).not.toContain(KEY);
  });
});
