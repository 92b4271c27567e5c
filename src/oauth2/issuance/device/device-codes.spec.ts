import {
  DEVICE_CODE_ALPHABET,
  displayUserCode,
  generateDeviceCode,
  generateUserCode,
  normalizeUserCode,
} from './device-codes';

describe('device codes', () => {
  it('are 128 characters that neither a URL nor a form body escapes, each symbol in use', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i += 1) {
      const code = generateDeviceCode();
      expect(code).toMatch(/^[A-Za-z0-9._-]{128}$/);
      expect(encodeURIComponent(code)).toBe(code);
      expect(new URLSearchParams({ c: code }).toString()).toBe(`c=${code}`);
      for (const char of code) seen.add(char);
    }
    expect([...seen].sort()).toEqual([...DEVICE_CODE_ALPHABET].sort());
  });

  it('user codes are nine digits, leading zeros kept', () => {
    const codes = Array.from({ length: 2000 }, generateUserCode);
    for (const code of codes) expect(code).toMatch(/^[0-9]{9}$/);
    // Of 2000 uniform codes, about 200 start with 0; none doing so would mean the padding is lost.
    expect(codes.filter((code) => code.startsWith('0')).length).toBeGreaterThan(50);
    expect(new Set(codes).size).toBeGreaterThan(1990);
  });
});

describe('normalizeUserCode', () => {
  it.each([
    ['123456789', '123456789'],
    ['123 456 789', '123456789'],
    ['123-456-789', '123456789'],
    [' 012345678\n', '012345678'],
  ])('reads %j as %s', (typed, code) => {
    expect(normalizeUserCode(typed)).toBe(code);
  });

  it.each([
    undefined,
    '',
    '12345678',
    '1234567890',
    '12345678a',
    '１２３４５６７８９',
    '1'.repeat(65),
    '123_456_789',
  ])('refuses %j', (typed) => {
    expect(normalizeUserCode(typed)).toBeUndefined();
  });

  it('displays a code in groups of three', () => {
    expect(displayUserCode('012345678')).toBe('012 345 678');
  });
});
