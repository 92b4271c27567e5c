import { hashPassword, needsRehash, passwordProblem, verifyPassword } from './password';

describe('password hashing', () => {
  it('hashes in a self-describing format with a per-hash salt, and verifies', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect(a).toMatch(/^scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(a).not.toBe(b);
    await expect(verifyPassword('correct horse', a)).resolves.toBe(true);
    await expect(verifyPassword('correct horsE', a)).resolves.toBe(false);
    await expect(verifyPassword('', a)).resolves.toBe(false);
    expect(needsRehash(a)).toBe(false);
  });

  it('answers false for no hash, a malformed one, or one with absurd parameters', async () => {
    await expect(verifyPassword('whatever1', null)).resolves.toBe(false);
    await expect(verifyPassword('whatever1', 'plaintext')).resolves.toBe(false);
    const good = await hashPassword('whatever1');
    await expect(verifyPassword('whatever1', good.replace('ln=15', 'ln=30'))).resolves.toBe(false);
    expect(needsRehash(good.replace('ln=15', 'ln=14'))).toBe(true);
  });

  it('verifies hashes made with other parameters (they can be raised later)', async () => {
    // A hash with ln=10 computed by hand from the same primitive.
    const { scryptSync } = await import('node:crypto');
    const salt = Buffer.from('0123456789abcdef');
    const hash = scryptSync('older one', salt, 32, { N: 1024, r: 8, p: 1 });
    const stored = `scrypt$ln=10,r=8,p=1$${salt.toString('base64').replace(/=+$/, '')}$${hash
      .toString('base64')
      .replace(/=+$/, '')}`;
    await expect(verifyPassword('older one', stored)).resolves.toBe(true);
    expect(needsRehash(stored)).toBe(true);
  });

  it('names a password too short or too long', () => {
    expect(passwordProblem('1234567')).toBe('the password must be at least 8 characters long');
    expect(passwordProblem('12345678')).toBeUndefined();
    expect(passwordProblem('x'.repeat(1025))).toBe('the password must be at most 1024 characters long');
  });
});
