import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { createApp } from './app';
import { bootstrap, type BootstrapResult, INITIAL_ADMIN_KEY_FILE } from './bootstrap/bootstrap';
import { type AppConfig, ConfigError, loadConfig } from './config/config';
import { type DatabaseHandle, openDatabase } from './database/database';
import { EmbeddedPostgresError } from './database/embedded-postgres';
import { migrateAtStart, pendingMigrations } from './database/migrations';
import { StartupState } from './health/startup-state';
import { resolveSecretKey } from './keys/secret-key';
import { prepareKeys } from './keys/startup';
import { createLogger } from './logging/logger';
import { applyHeapGrowingPercent } from './runtime/heap';

function readConfig(): AppConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

/** Stops accepting, lets in-flight requests finish, closes the pool, then stops the embedded PostgreSQL. */
function installShutdown(
  app: NestFastifyApplication,
  database: DatabaseHandle,
  config: AppConfig,
  logger: Logger,
): void {
  let closing = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; exiting');
      // Not `database.embedded?.stop().finally(...)`: with DATABASE_URL that whole chain is skipped, exit included,
      // and the process waited for its slowest request however long it took.
      void (database.embedded?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
    }, config.shutdownTimeoutMs);
    force.unref();
    void (async () => {
      try {
        await app.close();
        await database.embedded?.stop();
        logger.info('stopped');
        process.exit(0);
      } catch (error) {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      }
    })();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

/** What a failure is, without what it carries: a TypeORM error's query parameters may hold a key or a password. */
function describeFailure(error: unknown): { name: string; message: string; code?: string } {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as { code?: unknown }).code;
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}),
  };
}

/**
 * Hands the key of the `akadmin` created at first start to whoever started Grantry, once. In a terminal it is
 * printed, as before. Anywhere else (a container, a service manager, `npm start > log`) stdout is a log stream that
 * others read and keep, so the key goes to DATA_DIR/initial-admin-key (mode 0600) and the log says only where.
 */
function handOverAdminKey(key: string, base: string, config: AppConfig, logger: Logger): void {
  if (process.stdout.isTTY) {
    // Deliberately not a log line: this key is shown once, to the person starting Grantry for the first time.
    process.stdout.write(
      [
        '',
        'No superuser existed, so Grantry created "akadmin" with this API key (shown only now; it is stored hashed):',
        '',
        `    ${key}`,
        '',
        `Try the API in the Swagger UI: ${base}/api/v3/docs/  ("Authorize" with the key above)`,
        `or: curl -H "Authorization: Bearer <key>" ${base}/api/v3/grantry/whoami/`,
        '',
      ].join('\n'),
    );
    return;
  }
  const file = path.join(config.dataDir, INITIAL_ADMIN_KEY_FILE);
  try {
    fs.mkdirSync(config.dataDir, { recursive: true });
    // Removed first so that the file is created afresh with mode 0600 (and a planted symlink is not followed).
    fs.rmSync(file, { force: true });
    fs.writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    logger.warn(
      { file },
      'no superuser existed, so "akadmin" was created; its API key is in this file (mode 0600): read it, then delete the file',
    );
  } catch (error) {
    logger.error(
      { file, error: describeFailure(error) },
      'no superuser existed, so "akadmin" was created, but its API key could not be written; create one with ' +
        '"grantry token create --user akadmin", or set BOOTSTRAP_TOKEN',
    );
  }
}

/** A setting found wrong only against the database (SECRET_KEY): the configuration exit, one line on stderr. */
function exitOnSettingError(error: unknown): void {
  if (!(error instanceof ConfigError)) return;
  process.stderr.write(`${error.message}\n`);
  process.exit(2);
}

const MIGRATION_POLL_MS = 1000;

/**
 * What start-up does once the schema is there: SECRET_KEY checked and the providers' signing keys made, then the
 * bootstrap (BOOTSTRAP_TOKEN, or the first superuser); readiness waits for it.
 */
async function prepareData(
  app: NestFastifyApplication,
  config: AppConfig,
  database: DatabaseHandle,
  logger: Logger,
): Promise<BootstrapResult> {
  await prepareKeys(config, database.url, logger);
  const bootstrapped = await bootstrap(app.get(DataSource), config.bootstrapToken);
  app.get(StartupState).bootstrapped = true;
  return bootstrapped;
}

/**
 * With RUN_MIGRATIONS=false on a database that the deploy's migration step has not reached yet (a first install:
 * the server pods start with the migrations Job), the server listens with readiness 503 ("migrations": "pending")
 * instead of exiting, and bootstraps as soon as the migrations are there.
 */
function prepareDataOnceMigrated(
  app: NestFastifyApplication,
  base: string,
  config: AppConfig,
  logger: Logger,
  database: DatabaseHandle,
): void {
  logger.warn(
    'migrations are pending and RUN_MIGRATIONS=false: readiness answers 503 until "grantry migrate" has run',
  );
  const attempt = async (): Promise<void> => {
    try {
      if ((await pendingMigrations(app.get(DataSource))).length === 0) {
        const bootstrapped = await prepareData(app, config, database, logger);
        logger.info('migrations applied; bootstrapped');
        if (bootstrapped.action === 'created-admin') handOverAdminKey(bootstrapped.key, base, config, logger);
        return;
      }
    } catch (error) {
      if (error instanceof ConfigError) {
        // SECRET_KEY does not match this database: serving on would only ever be unready.
        logger.fatal({ error: describeFailure(error) }, 'start-up failed');
        void (database.embedded?.stop() ?? Promise.resolve()).finally(() => exitOnSettingError(error));
        return;
      }
      // The database may be down meanwhile (the circuit breaker answers the requests): try again.
      logger.debug({ error: describeFailure(error) }, 'waiting for migrations');
    }
    setTimeout(() => void attempt(), MIGRATION_POLL_MS).unref();
  };
  setTimeout(() => void attempt(), MIGRATION_POLL_MS).unref();
}

async function main(): Promise<void> {
  const config = readConfig();
  applyHeapGrowingPercent(config.heapGrowingPercent);
  const logger = createLogger(config);
  const started = Date.now();
  const database = await openDatabase(config, logger).catch((error: unknown) => {
    // Something the person starting Grantry must fix (a refused DATA_DIR, PostgreSQL failing to start): one line.
    if (error instanceof EmbeddedPostgresError) {
      process.stderr.write(`Cannot start the embedded PostgreSQL: ${error.message}\n`);
      process.exit(2);
    }
    logger.fatal({ error: describeFailure(error) }, 'start-up failed');
    process.exit(1);
  });
  let app: NestFastifyApplication | undefined;
  try {
    if (config.runMigrations) {
      const applied = await migrateAtStart(database.url, config.dbConnectTimeoutMs);
      if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations');
    }
    // SECRET_KEY resolved once, here (generated into DATA_DIR when unset, logged with where it went): the app seals
    // and signs with it, and the key check at prepareData compares this same value with the database.
    const keyed: AppConfig = { ...config, secretKey: resolveSecretKey(config, logger) };
    app = await createApp(keyed, database.url, logger);
    // With RUN_MIGRATIONS=false a deploy step migrates; until it has, serve unready rather than exit.
    const migrated = config.runMigrations || (await pendingMigrations(app.get(DataSource))).length === 0;
    const bootstrapped = migrated ? await prepareData(app, config, database, logger) : undefined;
    // With the embedded database nothing else should reach the service unless HOST says so.
    const host = config.host ?? (database.embedded ? '127.0.0.1' : '0.0.0.0');
    await app.listen({ port: config.port, host });
    const address = app.getHttpServer().address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const base = `http://${host === '0.0.0.0' || host === '::' ? 'localhost' : host}:${port}`;
    installShutdown(app, database, config, logger);
    logger.info(
      { url: base, startupMs: Date.now() - started, embedded: Boolean(database.embedded) },
      'ready',
    );
    if (bootstrapped === undefined) prepareDataOnceMigrated(app, base, config, logger, database);
    else if (bootstrapped.action === 'created-admin')
      handOverAdminKey(bootstrapped.key, base, config, logger);
  } catch (error) {
    logger.fatal({ error: describeFailure(error) }, 'start-up failed');
    await app?.close().catch(() => undefined);
    await database.embedded?.stop();
    exitOnSettingError(error);
    process.exit(1);
  }
}

void main();
