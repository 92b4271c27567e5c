import { safeNext } from './next-path';

describe('safeNext', () => {
  it.each([
    '/account/',
    '/application/o/authorize/?client_id=a&state=b%2F',
    '/',
    '/device?code=123456789',
    '/device',
  ])('keeps %s', (value) => {
    expect(safeNext(value)).toBe(value);
  });

  it.each([
    '//evil.example',
    '//evil.example/path',
    'https://evil.example',
    'http:/evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    'javascript:alert(1)',
    ' /account/',
    '/\t/evil.example',
    '/\n/evil.example',
    'account/',
    '',
    'x'.repeat(2001),
    undefined,
    42,
  ])('refuses %j', (value) => {
    expect(safeNext(value)).toBeUndefined();
  });
});
