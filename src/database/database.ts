import type { Logger } from 'pino';
import type { AppConfig } from '../config/config';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres';

export interface DatabaseHandle {
  url: string;
  /** Set when the database is the embedded one; its stop() stops the cluster only when no other process uses it. */
  embedded: EmbeddedPostgres | undefined;
}

/** DATABASE_URL when given; otherwise the embedded PostgreSQL in DATA_DIR, started or attached to. */
export async function openDatabase(config: AppConfig, logger: Logger): Promise<DatabaseHandle> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: undefined };
  const embedded = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    log: (message) => logger.info({ component: 'embedded-postgres' }, message),
  });
  return { url: embedded.url, embedded };
}
