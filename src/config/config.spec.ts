import path from 'node:path';
import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('uses documented defaults for an empty environment', () => {
    const config = loadConfig({}, '/srv/grantry');
    expect(config).toEqual({
      nodeEnv: 'production',
      port: 9000,
      host: undefined,
      databaseUrl: undefined,
      dataDir: path.resolve('/srv/grantry/data'),
      runMigrations: true,
      bootstrapToken: undefined,
      logLevel: 'info',
      dbPoolSize: 10,
      dbStatementTimeoutMs: 5000,
      dbConnectTimeoutMs: 2000,
      shutdownTimeoutMs: 10000,
      pageSizeDefault: 20,
      pageSizeMax: 100,
      avatars: 'initials',
      grantCountsFoldMs: 5000,
      authFailureLimit: 20,
      authFailureWindowSeconds: 60,
      authFailureMaxAddresses: 10000,
      trustedProxies: [],
      corsOrigins: [],
      maxHeaderBytes: 16384,
      maxBodyBytes: 65536,
      heapGrowingPercent: 50,
    });
  });

  it.each<[Record<string, string>, string, string]>([
    [{ PORT: 'abc' }, 'PORT', 'Invalid configuration: PORT must be a whole number, got "abc"'],
    [{ PORT: '70000' }, 'PORT', 'Invalid configuration: PORT must be between 0 and 65535, got 70000'],
    [
      { RUN_MIGRATIONS: 'maybe' },
      'RUN_MIGRATIONS',
      'Invalid configuration: RUN_MIGRATIONS must be true or false, got "maybe"',
    ],
    [
      { DATABASE_URL: 'mysql://x/y' },
      'DATABASE_URL',
      'Invalid configuration: DATABASE_URL must use the postgres:// scheme, got "mysql:"',
    ],
    [
      { DATABASE_URL: 'not a url' },
      'DATABASE_URL',
      'Invalid configuration: DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database)',
    ],
    [
      { LOG_LEVEL: 'loud' },
      'LOG_LEVEL',
      'Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
    [
      { BOOTSTRAP_TOKEN: 'short' },
      'BOOTSTRAP_TOKEN',
      'Invalid configuration: BOOTSTRAP_TOKEN must be at least 16 characters long',
    ],
    [
      { PAGE_SIZE_DEFAULT: '200' },
      'PAGE_SIZE_DEFAULT',
      'Invalid configuration: PAGE_SIZE_DEFAULT must not exceed PAGE_SIZE_MAX (100)',
    ],
    [
      { AUTH_FAILURE_LIMIT: '-1' },
      'AUTH_FAILURE_LIMIT',
      'Invalid configuration: AUTH_FAILURE_LIMIT must be a whole number, got "-1"',
    ],
    [
      { AUTH_FAILURE_WINDOW_SECONDS: '0' },
      'AUTH_FAILURE_WINDOW_SECONDS',
      'Invalid configuration: AUTH_FAILURE_WINDOW_SECONDS must be between 1 and 86400, got 0',
    ],
    [
      { AUTH_FAILURE_MAX_ADDRESSES: '0' },
      'AUTH_FAILURE_MAX_ADDRESSES',
      'Invalid configuration: AUTH_FAILURE_MAX_ADDRESSES must be between 1 and 10000000, got 0',
    ],
    [
      { MAX_HEADER_BYTES: '512' },
      'MAX_HEADER_BYTES',
      'Invalid configuration: MAX_HEADER_BYTES must be between 1024 and 1048576, got 512',
    ],
    [
      { HEAP_GROWING_PERCENT: '1001' },
      'HEAP_GROWING_PERCENT',
      'Invalid configuration: HEAP_GROWING_PERCENT must be between 0 and 1000, got 1001',
    ],
    [
      { HEAP_GROWING_PERCENT: '50%' },
      'HEAP_GROWING_PERCENT',
      'Invalid configuration: HEAP_GROWING_PERCENT must be a whole number, got "50%"',
    ],
    [
      { MAX_BODY_BYTES: '1mb' },
      'MAX_BODY_BYTES',
      'Invalid configuration: MAX_BODY_BYTES must be a whole number, got "1mb"',
    ],
    ...[
      '10.0.0.0/33',
      '::1/129',
      'proxy.internal',
      '10.0.0.1/',
      '10.0.0.1/8/8',
      '256.0.0.1',
      '10.0.0.0/-1',
    ].map(
      (entry) =>
        [
          { TRUSTED_PROXIES: `127.0.0.1, ${entry}` },
          'TRUSTED_PROXIES',
          'Invalid configuration: TRUSTED_PROXIES must be a comma-separated list of IP addresses, CIDR ranges ' +
            `(10.0.0.0/8, fd00::/8), loopback, linklocal or uniquelocal, got "${entry}"`,
        ] as [Record<string, string>, string, string],
    ),
    ...[
      '*',
      'https://*.example.com',
      'admin.example.com',
      'https://admin.example.com/',
      'https://admin.example.com/app',
      'https://Admin.example.com',
      'https://admin.example.com:443',
      'ftp://admin.example.com',
      'null',
    ].map(
      (entry) =>
        [
          { CORS_ORIGINS: `https://ok.example.com,${entry}` },
          'CORS_ORIGINS',
          'Invalid configuration: CORS_ORIGINS must be a comma-separated list of exact origins such as ' +
            'https://admin.example.com (scheme, lower-case host and optional port; no path, no wildcard), ' +
            `got "${entry}"`,
        ] as [Record<string, string>, string, string],
    ),
  ])('rejects %j naming the variable', (env, variable, message) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toBe(message);
  });

  it('reads explicit values', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://u:p@db:5432/grantry',
      RUN_MIGRATIONS: 'false',
      DATA_DIR: '/var/lib/grantry',
    });
    expect(config.port).toBe(8080);
    expect(config.host).toBe('0.0.0.0');
    expect(config.databaseUrl).toBe('postgres://u:p@db:5432/grantry');
    expect(config.runMigrations).toBe(false);
    expect(config.dataDir).toBe('/var/lib/grantry');
  });

  it('reads the hardening settings', () => {
    const config = loadConfig({
      AUTH_FAILURE_LIMIT: '0',
      AUTH_FAILURE_WINDOW_SECONDS: '300',
      AUTH_FAILURE_MAX_ADDRESSES: '50',
      TRUSTED_PROXIES: ' 10.0.0.0/8 ,, 192.168.1.7, fd00::/8, ::1, loopback, 172.16.0.0/12 ',
      CORS_ORIGINS: 'https://admin.example.com, http://localhost:3000,https://admin.example.com',
      MAX_HEADER_BYTES: '8192',
      MAX_BODY_BYTES: '1048576',
    });
    expect(config).toEqual(
      expect.objectContaining({
        authFailureLimit: 0,
        authFailureWindowSeconds: 300,
        authFailureMaxAddresses: 50,
        trustedProxies: ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1', 'loopback', '172.16.0.0/12'],
        corsOrigins: ['https://admin.example.com', 'http://localhost:3000'],
        maxHeaderBytes: 8192,
        maxBodyBytes: 1048576,
      }),
    );
  });

  it('bounds heap growth at 50 % unless told otherwise (0 = V8 decides)', () => {
    expect(loadConfig({}).heapGrowingPercent).toBe(50);
    expect(loadConfig({ HEAP_GROWING_PERCENT: '0' }).heapGrowingPercent).toBe(0);
    expect(loadConfig({ HEAP_GROWING_PERCENT: '200' }).heapGrowingPercent).toBe(200);
  });

  it('treats empty lists as off', () => {
    const config = loadConfig({ TRUSTED_PROXIES: ' ', CORS_ORIGINS: ',' });
    expect(config.trustedProxies).toEqual([]);
    expect(config.corsOrigins).toEqual([]);
  });
});
