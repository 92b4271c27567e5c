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
    });
  });

  it.each([
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
});
