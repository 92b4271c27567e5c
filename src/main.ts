import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { createApp } from './app';
import { bootstrap } from './bootstrap/bootstrap';
import { type AppConfig, ConfigError, loadConfig } from './config/config';
import { type DatabaseHandle, openDatabase } from './database/database';
import { EmbeddedPostgresError } from './database/embedded-postgres';
import { runMigrations } from './database/migrations';
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
      void database.embedded?.stop().finally(() => process.exit(1));
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

async function main(): Promise<void> {
  const config = readConfig();
  applyHeapGrowingPercent(config.heapGrowingPercent);
  const logger = createLogger(config);
  const started = Date.now();
  const database = await openDatabase(config, logger).catch((error: unknown) => {
    // Something the person starting Grantry must fix (a refused DATA_DIR, PostgreSQL failing to start): one line.
    if (!(error instanceof EmbeddedPostgresError)) throw error;
    process.stderr.write(`Cannot start the embedded PostgreSQL: ${error.message}\n`);
    process.exit(2);
  });
  let app: NestFastifyApplication | undefined;
  try {
    app = await createApp(config, database.url, logger);
    const dataSource = app.get(DataSource);
    if (config.runMigrations) {
      const applied = await runMigrations(dataSource);
      if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations');
    }
    const bootstrapped = await bootstrap(dataSource, config.bootstrapToken);
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
    if (bootstrapped.action === 'created-admin') {
      // Deliberately not a log line: this key is shown once, to the person starting Grantry for the first time.
      process.stdout.write(
        [
          '',
          'No superuser existed, so Grantry created "akadmin" with this API key (shown only now; it is stored hashed):',
          '',
          `    ${bootstrapped.key}`,
          '',
          `Try the API in the Swagger UI: ${base}/api/v3/docs/  ("Authorize" with the key above)`,
          `or: curl -H "Authorization: Bearer <key>" ${base}/api/v3/grantry/whoami/`,
          '',
        ].join('\n'),
      );
    }
  } catch (error) {
    logger.fatal({ err: error }, 'start-up failed');
    await app?.close().catch(() => undefined);
    await database.embedded?.stop();
    process.exit(1);
  }
}

void main();
