import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CONFIG_VARIABLES,
  ConfigError,
  loadConfig,
  SECRET_SETTINGS,
  smallestPeriod,
  letterEntropyBits,
} from './config';

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
      secretKey: undefined,
      logLevel: 'info',
      dbPoolSize: 10,
      dbStatementTimeoutMs: 5000,
      dbConnectTimeoutMs: 2000,
      dbProbeIntervalMs: 500,
      shutdownTimeoutMs: 10000,
      pageSizeDefault: 20,
      pageSizeMax: 100,
      avatars: 'initials',
      grantCountsFoldMs: 5000,
      grantRetentionMs: 604_800_000,
      grantCleanupIntervalSeconds: 3600,
      authFailureLimit: 20,
      authFailureWindowSeconds: 60,
      authFailureMaxAddresses: 10000,
      sessionMaxAgeSeconds: 86400,
      sessionIdleSeconds: 7200,
      loginFailureLimit: 10,
      loginFailureWindowSeconds: 300,
      deviceRequestLimit: 20,
      trustedProxies: [],
      corsOrigins: [],
      publicUrl: undefined,
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
      'Invalid configuration: BOOTSTRAP_TOKEN must be at least 32 characters long (128 bits or more; e.g. ' +
        '"openssl rand -hex 32"), got 5',
    ],
    [
      { BOOTSTRAP_TOKEN: '0123456789abcdef0123456789abcde' },
      'BOOTSTRAP_TOKEN',
      'Invalid configuration: BOOTSTRAP_TOKEN must be at least 32 characters long (128 bits or more; e.g. ' +
        '"openssl rand -hex 32"), got 31',
    ],
    ...[
      'a'.repeat(40),
      'abcdefgh'.repeat(4),
      'Aa1!'.repeat(12),
      'abababab'.repeat(5) + 'cdefgh',
      'a'.repeat(30) + '0123456789',
    ].map(
      (token) =>
        [
          { BOOTSTRAP_TOKEN: token },
          'BOOTSTRAP_TOKEN',
          'Invalid configuration: BOOTSTRAP_TOKEN is too repetitive to be a secret; use a random value (e.g. ' +
            '"openssl rand -hex 32")',
        ] as [Record<string, string>, string, string],
    ),
    ...['pässwörd-0123456789abcdefghijklmnop', 'with space 0123456789abcdefghijklmnop'].map(
      (token) =>
        [
          { BOOTSTRAP_TOKEN: token },
          'BOOTSTRAP_TOKEN',
          'Invalid configuration: BOOTSTRAP_TOKEN must be printable ASCII without spaces (e.g. the output of ' +
            '"openssl rand -hex 32")',
        ] as [Record<string, string>, string, string],
    ),
    [
      { BOOTSTRAP_TOKEN: '3f2b8c1e-9a4d-4e7f-b6c5-0d1e2f3a4b5c' },
      'BOOTSTRAP_TOKEN',
      'Invalid configuration: BOOTSTRAP_TOKEN must not be a UUID (at most 122 random bits); use "openssl rand -hex 32"',
    ],
    [
      { SECRET_KEY: '0123456789abcdef0123456789abcde' },
      'SECRET_KEY',
      'Invalid configuration: SECRET_KEY must be at least 32 characters long (128 bits or more; e.g. ' +
        '"openssl rand -hex 32"), got 31',
    ],
    [
      { SECRET_KEY: 'abcdefgh'.repeat(4) },
      'SECRET_KEY',
      'Invalid configuration: SECRET_KEY is too repetitive to be a secret; use a random value (e.g. ' +
        '"openssl rand -hex 32")',
    ],
    [
      { SECRET_KEY: '3f2b8c1e-9a4d-4e7f-b6c5-0d1e2f3a4b5c' },
      'SECRET_KEY',
      'Invalid configuration: SECRET_KEY must not be a UUID (at most 122 random bits); use "openssl rand -hex 32"',
    ],
    [
      { SECRET_KEY: 'c0ffee254729296a45a3885639ac7ca1', SECRET_KEY_FILE: '/run/secrets/secret-key' },
      'SECRET_KEY_FILE',
      'Invalid configuration: SECRET_KEY_FILE and SECRET_KEY are both set; set only one',
    ],
    [
      { DATABASE_URL: 'postgres://u:p@db/g', DATABASE_URL_FILE: '/run/secrets/database-url' },
      'DATABASE_URL_FILE',
      'Invalid configuration: DATABASE_URL_FILE and DATABASE_URL are both set; set only one',
    ],
    [
      { BOOTSTRAP_TOKEN_FILE: '/nonexistent/grantry/bootstrap-token' },
      'BOOTSTRAP_TOKEN_FILE',
      'Invalid configuration: BOOTSTRAP_TOKEN_FILE names a file that cannot be read (ENOENT): ' +
        '/nonexistent/grantry/bootstrap-token',
    ],
    [
      { DATABASE_URL_FILE: '/' },
      'DATABASE_URL_FILE',
      'Invalid configuration: DATABASE_URL_FILE names a file that cannot be read (EISDIR): /',
    ],
    [
      { PAGE_SIZE_DEFAULT: '200' },
      'PAGE_SIZE_DEFAULT',
      'Invalid configuration: PAGE_SIZE_DEFAULT must not exceed PAGE_SIZE_MAX (100)',
    ],
    [
      { DB_PROBE_INTERVAL_MS: '10' },
      'DB_PROBE_INTERVAL_MS',
      'Invalid configuration: DB_PROBE_INTERVAL_MS must be between 50 and 60000, got 10',
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

  it('GRANT_RETENTION: an authentik duration (0 allowed); GRANT_CLEANUP_INTERVAL_SECONDS=0 turns the job off', () => {
    expect(loadConfig({ GRANT_RETENTION: 'days=30' }).grantRetentionMs).toBe(30 * 86_400_000);
    expect(loadConfig({ GRANT_RETENTION: 'days=1;hours=12' }).grantRetentionMs).toBe(36 * 3_600_000);
    expect(loadConfig({ GRANT_RETENTION: 'days=0' }).grantRetentionMs).toBe(0);
    expect(loadConfig({ GRANT_CLEANUP_INTERVAL_SECONDS: '0' }).grantCleanupIntervalSeconds).toBe(0);
    const refused: [Record<string, string>, string][] = [
      [
        { GRANT_RETENTION: '7d' },
        'Invalid configuration: GRANT_RETENTION value "7d" is not a valid duration: "7d" is not key=value ' +
          '(expected e.g. "hours=1;minutes=30" with keys weeks, days, hours, minutes, seconds, milliseconds, microseconds)',
      ],
      [
        { GRANT_RETENTION: 'day=7' },
        'Invalid configuration: GRANT_RETENTION value "day=7" is not a valid duration: unknown key "day" ' +
          '(expected e.g. "hours=1;minutes=30" with keys weeks, days, hours, minutes, seconds, milliseconds, microseconds)',
      ],
      [
        { GRANT_RETENTION: 'days=-1' },
        'Invalid configuration: GRANT_RETENTION value "days=-1" is not a valid duration: it is negative ' +
          '(expected e.g. "hours=1;minutes=30" with keys weeks, days, hours, minutes, seconds, milliseconds, microseconds)',
      ],
      [
        { GRANT_CLEANUP_INTERVAL_SECONDS: 'hourly' },
        'Invalid configuration: GRANT_CLEANUP_INTERVAL_SECONDS must be a whole number, got "hourly"',
      ],
    ];
    for (const [env, message] of refused) {
      const attempt = (): unknown => loadConfig(env);
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(message);
    }
  });

  describe('secrets from files (<NAME>_FILE)', () => {
    let dir: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantry-config-'));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, content: string | Buffer): string => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, content, { mode: 0o600 });
      return file;
    };

    it('reads DATABASE_URL_FILE and BOOTSTRAP_TOKEN_FILE, ignoring one trailing newline', () => {
      const config = loadConfig({
        DATABASE_URL_FILE: write('url', 'postgres://grantry:s3cret@db:5432/grantry\n'),
        BOOTSTRAP_TOKEN_FILE: write('token', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b\r\n'),
      });
      expect(config.databaseUrl).toBe('postgres://grantry:s3cret@db:5432/grantry');
      expect(config.bootstrapToken).toBe('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b');
    });

    it('reads SECRET_KEY_FILE and validates its content as SECRET_KEY', () => {
      const key = 'c0ffee254729296a45a3885639ac7ca1ec2e9d6be6a3d9c0d4b16e1f3a0c9e7d';
      expect(loadConfig({ SECRET_KEY_FILE: write('secret-key', `${key}\n`) }).secretKey).toBe(key);
      expect(() => loadConfig({ SECRET_KEY_FILE: write('weak-key', 'secret\n') })).toThrow(
        new ConfigError(
          'SECRET_KEY',
          'must be at least 32 characters long (128 bits or more; e.g. "openssl rand -hex 32"), got 6',
        ),
      );
    });

    it('validates a value from a file as it validates the variable, naming the variable', () => {
      expect(() => loadConfig({ BOOTSTRAP_TOKEN_FILE: write('weak', 'secret\n') })).toThrow(
        'Invalid configuration: BOOTSTRAP_TOKEN must be at least 32 characters long',
      );
      expect(() => loadConfig({ DATABASE_URL_FILE: write('mysql', 'mysql://x/y') })).toThrow(
        'Invalid configuration: DATABASE_URL must use the postgres:// scheme, got "mysql:"',
      );
    });

    it('refuses an empty file and one too large to be a secret, without printing the content', () => {
      const empty = write('empty', '\n');
      expect(() => loadConfig({ BOOTSTRAP_TOKEN_FILE: empty })).toThrow(
        new ConfigError('BOOTSTRAP_TOKEN_FILE', `names an empty file: ${empty}`),
      );
      const big = write('big', Buffer.alloc(65_537, 'x'));
      expect(() => loadConfig({ DATABASE_URL_FILE: big })).toThrow(
        new ConfigError('DATABASE_URL_FILE', 'names a file of 65537 bytes; a secret file holds one line'),
      );
    });

    it('reads a file of exactly 65,536 bytes, and refuses a whitespace-only one as empty', () => {
      const long = Array.from({ length: 1024 }, (_, i) =>
        createHash('sha256').update(String(i)).digest('hex'),
      ).join('');
      expect(long).toHaveLength(65_536);
      expect(loadConfig({ BOOTSTRAP_TOKEN_FILE: write('long', long) }).bootstrapToken).toBe(long);
      const blank = write('blank', ' \t\n');
      expect(() => loadConfig({ BOOTSTRAP_TOKEN_FILE: blank })).toThrow(
        new ConfigError('BOOTSTRAP_TOKEN_FILE', `names an empty file: ${blank}`),
      );
    });

    it('drops only the final newline: a file of two lines is not one secret', () => {
      const file = write('two-lines', '0f1e2d3c4b5a69788796a5b4c3d2e1f0\n9f86d081884c7d659a2feaa0c55ad015\n');
      expect(() => loadConfig({ BOOTSTRAP_TOKEN_FILE: file })).toThrow(
        new ConfigError(
          'BOOTSTRAP_TOKEN',
          'must be printable ASCII without spaces (e.g. the output of "openssl rand -hex 32")',
        ),
      );
    });

    it('closes every file it opens, read or refused', () => {
      const good = write('closed', '0f1e2d3c4b5a69788796a5b4c3d2e1f0\n');
      const big = write('closed-big', Buffer.alloc(65_537, 'x'));
      const opened = jest.spyOn(fs, 'openSync');
      const closed = jest.spyOn(fs, 'closeSync');
      try {
        loadConfig({ BOOTSTRAP_TOKEN_FILE: good });
        expect(() => loadConfig({ DATABASE_URL_FILE: big })).toThrow(ConfigError);
        const fds = opened.mock.results.map((result) => result.value as number);
        expect(fds).toHaveLength(2);
        expect(closed.mock.calls).toEqual(fds.map((fd) => [fd]));
      } finally {
        opened.mockRestore();
        closed.mockRestore();
      }
    });
  });

  it('CONFIG_VARIABLES lists exactly the variables loadConfig reads', () => {
    const read = new Set<string>();
    const env = new Proxy<Record<string, string | undefined>>(
      {},
      {
        get: (_target, key) => {
          if (typeof key === 'string') read.add(key);
          return undefined;
        },
      },
    );
    loadConfig(env, '/srv/grantry');
    expect([...read].sort()).toEqual([...CONFIG_VARIABLES].sort());
    expect(SECRET_SETTINGS.every((name) => CONFIG_VARIABLES.includes(`${name}_FILE`))).toBe(true);
  });

  it.each([
    ['abcabcabc', 3],
    ['aaaa', 1],
    ['abcd', 4],
    ['abcab', 3],
    ['', 0],
    // A mismatch after a partial match falls back along the borders (KMP), not to the start.
    ['abaabab', 5],
    ['aabaaab', 4],
  ])('smallestPeriod(%j) is %i', (text, period) => {
    expect(smallestPeriod(text)).toBe(period);
  });

  it('letterEntropyBits counts bits per letter frequency', () => {
    expect(letterEntropyBits('aaaa')).toBe(0);
    expect(letterEntropyBits('abab')).toBe(4);
    expect(letterEntropyBits('0123456789abcdef0123456789abcdef')).toBe(128);
  });

  it('accepts generated tokens: hex, base64url, and the 64 characters of "openssl rand -hex 32"', () => {
    for (const token of [
      '0f1e2d3c4b5a69788796a5b4c3d2e1f0',
      'uQ2-x9_Zk3PzW8rT0yVbNcH1mLd4sJf7GaKe5oRiXqE',
      'c0ffee254729296a45a3885639ac7ca1ec2e9d6be6a3d9c0d4b16e1f3a0c9e7d',
    ]) {
      expect(loadConfig({ BOOTSTRAP_TOKEN: token }).bootstrapToken).toBe(token);
    }
  });

  it('a secret that only contains a UUID is not a UUID', () => {
    const uuid = '9a2f0c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b';
    expect(() => loadConfig({ BOOTSTRAP_TOKEN: uuid })).toThrow(
      'Invalid configuration: BOOTSTRAP_TOKEN must not be a UUID (at most 122 random bits); use "openssl rand -hex 32"',
    );
    expect(loadConfig({ BOOTSTRAP_TOKEN: `x${uuid}` }).bootstrapToken).toBe(`x${uuid}`);
    expect(loadConfig({ BOOTSTRAP_TOKEN: `${uuid}x` }).bootstrapToken).toBe(`${uuid}x`);
  });

  it('PUBLIC_URL: normalized without a trailing slash; anything but a plain http(s) URL refused', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://ID.example.com/' }).publicUrl).toBe('https://id.example.com');
    expect(loadConfig({ PUBLIC_URL: 'http://localhost:9000/' }).publicUrl).toBe('http://localhost:9000');
    expect(loadConfig({ PUBLIC_URL: 'https://id.example.com/auth//' }).publicUrl).toBe(
      'https://id.example.com/auth',
    );
    expect(loadConfig({ PUBLIC_URL: 'https://id.example.com:8443/auth/' }).publicUrl).toBe(
      'https://id.example.com:8443/auth',
    );
    expect(loadConfig({ PUBLIC_URL: '' }).publicUrl).toBeUndefined();
    for (const bad of [
      'id.example.com',
      'ftp://id.example.com',
      'https://id.example.com/?a=1',
      'https://u:p@x.io',
      'https://u@x.io',
      'https://:p@x.io',
      'https://id.example.com/#top',
    ]) {
      expect(() => loadConfig({ PUBLIC_URL: bad })).toThrow(
        `Invalid configuration: PUBLIC_URL must be an absolute http(s) URL with no query, fragment or credentials, ` +
          `such as https://id.example.com, got "${bad}"`,
      );
    }
  });

  it('treats empty lists as off', () => {
    const config = loadConfig({ TRUSTED_PROXIES: ' ', CORS_ORIGINS: ',' });
    expect(config.trustedProxies).toEqual([]);
    expect(config.corsOrigins).toEqual([]);
  });
});

describe('loadConfig, every setting', () => {
  const token = 'c0ffee254729296a45a3885639ac7ca1d00d';
  const key = '9f86d081884c7d659a2feaa0c55ad015a3bf';
  const metrics = '2c26b46b68ffc68ff99b453c1d30413413422d';

  it('reads each variable into its own field', () => {
    expect(
      loadConfig(
        {
          NODE_ENV: 'development',
          PORT: '8081',
          HOST: ' 127.0.0.2 ',
          DATABASE_URL: 'postgresql://u:p@db/grantry',
          DATA_DIR: 'state',
          RUN_MIGRATIONS: 'no',
          BOOTSTRAP_TOKEN: token,
          SECRET_KEY: key,
          LOG_LEVEL: 'debug',
          DB_POOL_SIZE: '3',
          DB_STATEMENT_TIMEOUT_MS: '7000',
          DB_CONNECT_TIMEOUT_MS: '3000',
          DB_PROBE_INTERVAL_MS: '700',
          SHUTDOWN_TIMEOUT_MS: '1500',
          PAGE_SIZE_DEFAULT: '25',
          PAGE_SIZE_MAX: '250',
          AVATARS: 'gravatar,initials',
          GRANT_COUNTS_FOLD_MS: '900',
          GRANT_RETENTION: 'hours=2',
          GRANT_CLEANUP_INTERVAL_SECONDS: '120',
          AUTH_FAILURE_LIMIT: '5',
          AUTH_FAILURE_WINDOW_SECONDS: '30',
          AUTH_FAILURE_MAX_ADDRESSES: '99',
          SESSION_MAX_AGE_SECONDS: '3600',
          SESSION_IDLE_SECONDS: '600',
          LOGIN_FAILURE_LIMIT: '4',
          LOGIN_FAILURE_WINDOW_SECONDS: '60',
          DEVICE_REQUEST_LIMIT: '7',
          TRUSTED_PROXIES: 'uniquelocal,linklocal',
          CORS_ORIGINS: 'https://a.example.com:8443',
          PUBLIC_URL: 'https://id.example.com/auth/',
          MAX_HEADER_BYTES: '2048',
          MAX_BODY_BYTES: '4096',
          HEAP_GROWING_PERCENT: '75',
          METRICS_TOKEN: metrics,
        },
        '/srv/grantry',
      ),
    ).toStrictEqual({
      nodeEnv: 'development',
      port: 8081,
      host: '127.0.0.2',
      databaseUrl: 'postgresql://u:p@db/grantry',
      dataDir: '/srv/grantry/state',
      runMigrations: false,
      bootstrapToken: token,
      secretKey: key,
      logLevel: 'debug',
      dbPoolSize: 3,
      dbStatementTimeoutMs: 7000,
      dbConnectTimeoutMs: 3000,
      dbProbeIntervalMs: 700,
      shutdownTimeoutMs: 1500,
      pageSizeDefault: 25,
      pageSizeMax: 250,
      avatars: 'gravatar,initials',
      grantCountsFoldMs: 900,
      grantRetentionMs: 7_200_000,
      grantCleanupIntervalSeconds: 120,
      authFailureLimit: 5,
      authFailureWindowSeconds: 30,
      authFailureMaxAddresses: 99,
      sessionMaxAgeSeconds: 3600,
      sessionIdleSeconds: 600,
      loginFailureLimit: 4,
      loginFailureWindowSeconds: 60,
      deviceRequestLimit: 7,
      trustedProxies: ['uniquelocal', 'linklocal'],
      corsOrigins: ['https://a.example.com:8443'],
      publicUrl: 'https://id.example.com/auth',
      maxHeaderBytes: 2048,
      maxBodyBytes: 4096,
      heapGrowingPercent: 75,
      metricsToken: metrics,
    });
  });

  it.each([
    ['1', true],
    ['true', true],
    ['YES', true],
    [' On ', true],
    ['0', false],
    ['False', false],
    ['no', false],
    ['off', false],
    ['', true],
    ['  ', true],
  ])('RUN_MIGRATIONS=%j is %s', (raw, expected) => {
    expect(loadConfig({ RUN_MIGRATIONS: raw }).runMigrations).toBe(expected);
  });

  it.each<[string, number, number]>([
    ['PORT', 0, 65535],
    ['DB_POOL_SIZE', 1, 1000],
    ['DB_STATEMENT_TIMEOUT_MS', 0, 3_600_000],
    ['DB_CONNECT_TIMEOUT_MS', 100, 600_000],
    ['DB_PROBE_INTERVAL_MS', 50, 60_000],
    ['SHUTDOWN_TIMEOUT_MS', 0, 600_000],
    ['GRANT_COUNTS_FOLD_MS', 0, 3_600_000],
    ['GRANT_CLEANUP_INTERVAL_SECONDS', 0, 604_800],
    ['AUTH_FAILURE_LIMIT', 0, 1_000_000],
    ['AUTH_FAILURE_WINDOW_SECONDS', 1, 86_400],
    ['AUTH_FAILURE_MAX_ADDRESSES', 1, 10_000_000],
    ['SESSION_MAX_AGE_SECONDS', 60, 31_536_000],
    ['SESSION_IDLE_SECONDS', 60, 31_536_000],
    ['LOGIN_FAILURE_LIMIT', 0, 1_000_000],
    ['LOGIN_FAILURE_WINDOW_SECONDS', 1, 86_400],
    ['DEVICE_REQUEST_LIMIT', 0, 1_000_000],
    ['MAX_HEADER_BYTES', 1024, 1_048_576],
    ['MAX_BODY_BYTES', 1024, 16_777_216],
    ['HEAP_GROWING_PERCENT', 0, 1000],
  ])('%s accepts %i to %i and nothing outside', (name, min, max) => {
    const read = (raw: string): unknown => Object.values(loadConfig({ [name]: raw }));
    expect(read(String(min))).toContain(min);
    expect(read(String(max))).toContain(max);
    const message = (raw: number): string =>
      `Invalid configuration: ${name} must be between ${min} and ${max}, got ${raw}`;
    expect(() => loadConfig({ [name]: String(max + 1) })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: String(max + 1) })).toThrow(message(max + 1));
    if (min > 0) expect(() => loadConfig({ [name]: String(min - 1) })).toThrow(message(min - 1));
    expect(() => loadConfig({ [name]: ' 1 2 ' })).toThrow(
      `Invalid configuration: ${name} must be a whole number, got "1 2"`,
    );
  });

  it('PAGE_SIZE_DEFAULT may equal PAGE_SIZE_MAX, not exceed it; both are 1 to 10000', () => {
    expect(loadConfig({ PAGE_SIZE_DEFAULT: '1', PAGE_SIZE_MAX: '1' }).pageSizeMax).toBe(1);
    expect(loadConfig({ PAGE_SIZE_DEFAULT: '10000', PAGE_SIZE_MAX: '10000' }).pageSizeDefault).toBe(10_000);
    expect(() => loadConfig({ PAGE_SIZE_MAX: '10001' })).toThrow(
      'Invalid configuration: PAGE_SIZE_MAX must be between 1 and 10000, got 10001',
    );
    expect(() => loadConfig({ PAGE_SIZE_MAX: '0' })).toThrow(
      'Invalid configuration: PAGE_SIZE_MAX must be between 1 and 10000, got 0',
    );
    expect(() => loadConfig({ PAGE_SIZE_DEFAULT: '0' })).toThrow(
      'Invalid configuration: PAGE_SIZE_DEFAULT must be between 1 and 10000, got 0',
    );
    expect(loadConfig({ PAGE_SIZE_DEFAULT: '50', PAGE_SIZE_MAX: '50' }).pageSizeDefault).toBe(50);
    expect(() => loadConfig({ PAGE_SIZE_DEFAULT: '51', PAGE_SIZE_MAX: '50' })).toThrow(
      'Invalid configuration: PAGE_SIZE_DEFAULT must not exceed PAGE_SIZE_MAX (50)',
    );
  });

  it.each(['production', 'development', 'test'])('NODE_ENV=%s', (nodeEnv) => {
    expect(loadConfig({ NODE_ENV: nodeEnv }).nodeEnv).toBe(nodeEnv);
  });

  it('refuses an unknown NODE_ENV and an unknown AVATARS mode, naming them', () => {
    expect(() => loadConfig({ NODE_ENV: 'staging' })).toThrow(
      'Invalid configuration: NODE_ENV must be one of production, development, test, got "staging"',
    );
    expect(() => loadConfig({ AVATARS: 'initials,robohash' })).toThrow(
      'Invalid configuration: AVATARS has an unknown mode "robohash" (use none, initials, gravatar, ' +
        'attributes.<path> or an http(s) URL template)',
    );
  });

  it('a DATABASE_URL must name a database', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/' })).toThrow(
      'Invalid configuration: DATABASE_URL must name a database',
    );
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432' })).toThrow(
      'Invalid configuration: DATABASE_URL must name a database',
    );
  });

  it('TRUSTED_PROXIES: prefixes up to 32 (IPv4) or 128 (IPv6) bits', () => {
    expect(loadConfig({ TRUSTED_PROXIES: '10.0.0.1/32,::/128,10.0.0.0/0' }).trustedProxies).toEqual([
      '10.0.0.1/32',
      '::/128',
      '10.0.0.0/0',
    ]);
    for (const entry of [
      '10.0.0.1/33',
      '::/129',
      '10.0.0.1/',
      '10.0.0.1/1a',
      '10.0.0.1/0010',
      'host',
      'loopbacks',
    ]) {
      expect(() => loadConfig({ TRUSTED_PROXIES: entry })).toThrow(
        'Invalid configuration: TRUSTED_PROXIES must be a comma-separated list of IP addresses, CIDR ranges ' +
          `(10.0.0.0/8, fd00::/8), loopback, linklocal or uniquelocal, got "${entry}"`,
      );
    }
  });

  it('CORS_ORIGINS: exact origins only', () => {
    for (const entry of [
      'https://a.example.com/',
      'https://A.example.com',
      'https://a.example.com:443',
      'ftp://a.example.com',
      'https://*.example.com',
      'a.example.com',
    ]) {
      expect(() => loadConfig({ CORS_ORIGINS: entry })).toThrow(
        'Invalid configuration: CORS_ORIGINS must be a comma-separated list of exact origins such as ' +
          'https://admin.example.com (scheme, lower-case host and optional port; no path, no wildcard), ' +
          `got "${entry}"`,
      );
    }
  });
});
