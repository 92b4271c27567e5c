import { Writable } from 'node:stream';
import { couldBeKey, createLogger, redactUrl } from './logger';

describe('couldBeKey', () => {
  it.each([
    ['abc-123', false],
    ['3f2b8c1e-9a4d-4e7f-b6c5-0d1e2f3a4b5c', false],
    ['3F2B8C1E-9A4D-4E7F-B6C5-0D1E2F3A4B5C', false],
    ['checkout-7', false],
    ['req.2026.checkout', true],
    ['Qb3xk9VZp0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6AB', true],
    ['abcdefghijklmnopqrstuvwxyzABCDEF', true],
    ['4bf92f3577b34da6a3ce929d0e0e4736', true],
    ['trace12345abcdef', true],
  ])('%s -> %s', (value, expected) => {
    expect(couldBeKey(value)).toBe(expected);
  });
});

describe('redactUrl', () => {
  it.each([
    ['/api/v3/x/?access_token=abc123&page=2', '/api/v3/x/?access_token=[redacted]&page=2'],
    ['/api/v3/x/?page=2&token=abc', '/api/v3/x/?page=2&token=[redacted]'],
    ['/api/v3/x/?Client_Secret=s3cr3t', '/api/v3/x/?Client_Secret=[redacted]'],
    ['/api/v3/x/?search=token', '/api/v3/x/?search=token'],
    ['/api/v3/x/', '/api/v3/x/'],
    [
      '/api/v3/x/?key=a&code=b&refresh_token=c',
      '/api/v3/x/?key=[redacted]&code=[redacted]&refresh_token=[redacted]',
    ],
    ['/api/v3/Qb3xk9VZp0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6AB/', '/api/v3/[redacted]/'],
    ['/api/v3/oauth2/access_tokens/abcdEFGH1234ijkl/', '/api/v3/oauth2/access_tokens/[redacted]/'],
    [
      '/api/v3/oauth2/access_tokens/?search=abcdEFGH1234ijklMN',
      '/api/v3/oauth2/access_tokens/?search=[redacted]',
    ],
    ['/api/v3/x/?Qb3xk9VZp0a1b2c3d4e5', '/api/v3/x/?[redacted]'],
    ['/api/v3/x/?q=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '/api/v3/x/?q=[redacted]'],
    [
      '/api/v3/oauth2/authorization_codes/12/used_by/?ordering=-expires,provider&search=alice&page_size=100',
      '/api/v3/oauth2/authorization_codes/12/used_by/?ordering=-expires,provider&search=alice&page_size=100',
    ],
    ['/api/v3/docs/swagger-ui-standalone-preset.js', '/api/v3/docs/swagger-ui-standalone-preset.js'],
    // A key of 32 letters without a digit (the shortest BOOTSTRAP_TOKEN) is still a key.
    ['/api/v3/x/?q=abcdefghijklmnopqrstuvwxyzABCDEF', '/api/v3/x/?q=[redacted]'],
    ['/api/v3/abcdefghijklmnopqrstuvwxyzABCDEF/', '/api/v3/[redacted]/'],
    ['/api/v3/x/?q=abcdefghijklmnopqrstuvwxyzABCDE', '/api/v3/x/?q=abcdefghijklmnopqrstuvwxyzABCDE'],
  ])('%s -> %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});

describe('createLogger', () => {
  it('redacts authorization headers and secret fields', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const logger = createLogger({ logLevel: 'info' }, sink);
    logger.info(
      {
        req: { headers: { authorization: 'Bearer k1' } },
        key: 'k2',
        client_secret: 'k3',
        nested: { token: 'k4' },
      },
      'x',
    );
    const text = lines.join('');
    for (const secret of ['k1', 'k2', 'k3', 'k4']) expect(text).not.toContain(`"${secret}"`);
    expect(text).toContain('[redacted]');
  });
});
