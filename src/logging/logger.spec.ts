import { Writable } from 'node:stream';
import { createLogger, redactUrl } from './logger';

describe('redactUrl', () => {
  it.each([
    ['/api/v3/x/?access_token=abc123&page=2', '/api/v3/x/?access_token=[redacted]&page=2'],
    ['/api/v3/x/?page=2&token=abc', '/api/v3/x/?page=2&token=[redacted]'],
    ['/api/v3/x/?Client_Secret=s3cr3t', '/api/v3/x/?Client_Secret=[redacted]'],
    ['/api/v3/x/?search=token', '/api/v3/x/?search=token'],
    ['/api/v3/x/', '/api/v3/x/'],
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
