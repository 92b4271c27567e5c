import type { Logger } from 'pino';
import type { EntityManager } from 'typeorm';
import type { AppConfig } from '../config/config';
import { withUntimedDataSource } from '../database/data-source-options';
import { checkSecretKey, resolveSecretKey } from './secret-key';
import { Sealer } from './sealing';
import type { SigningAlgorithm } from './signing-key.entity';
import { generateSigningKeyPair, providerKeyName, storeSigningKey } from './signing-keys';

/** Serialises the creation of missing key pairs across instances; any constant shared by every Grantry process. */
const SIGNING_KEYS_LOCK = 0x6b657973; // "keys"

/** Key pairs generated at once (libuv's pool has 4 threads; RSA generation is pure CPU). */
const GENERATE_CONCURRENCY = 4;

/**
 * Gives every provider without a signing key one (RS256, authentik's default), in one transaction under an advisory
 * lock: instances starting together take turns, and the second finds nothing left to do. Returns how many it made.
 */
export async function ensureProviderSigningKeys(
  manager: EntityManager,
  sealer: Sealer,
  algorithm: SigningAlgorithm = 'RS256',
): Promise<number> {
  return manager.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [SIGNING_KEYS_LOCK]);
    const missing = await tx.query<{ id: number; name: string }[]>(
      `SELECT id, name FROM oauth2_providers WHERE signing_key IS NULL ORDER BY id FOR UPDATE`,
    );
    for (let start = 0; start < missing.length; start += GENERATE_CONCURRENCY) {
      const batch = missing.slice(start, start + GENERATE_CONCURRENCY);
      const pairs = await Promise.all(batch.map(() => generateSigningKeyPair(algorithm)));
      for (const [index, provider] of batch.entries()) {
        const pair = pairs[index];
        if (pair === undefined) continue;
        const key = await storeSigningKey(tx, sealer, providerKeyName(provider.name), pair);
        await tx.query('UPDATE oauth2_providers SET signing_key = $1 WHERE id = $2', [
          key.kpUuid,
          provider.id,
        ]);
      }
    }
    return missing.length;
  });
}

/**
 * Start-up: SECRET_KEY resolved (or generated), checked against the database, and a key pair made for every provider
 * that has none (those created before key pairs existed: a migration cannot seal without SECRET_KEY). Runs on a
 * connection of its own without statement_timeout, as RSA generation for many providers may take a while. Throws
 * ConfigError naming SECRET_KEY when the key does not match the database.
 */
export async function prepareKeys(config: AppConfig, databaseUrl: string, logger: Logger): Promise<Sealer> {
  const secretKey = resolveSecretKey(config, logger);
  const settings = {
    url: databaseUrl,
    poolSize: 1,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    applicationName: 'grantry-keys',
  };
  return withUntimedDataSource(settings, async (dataSource) => {
    const checked = await checkSecretKey(dataSource.manager, secretKey);
    if (checked === 'stored')
      logger.info('stored the SECRET_KEY check value: this key now seals the database');
    const sealer = new Sealer(secretKey);
    const started = Date.now();
    const created = await ensureProviderSigningKeys(dataSource.manager, sealer);
    if (created > 0) {
      logger.info(
        { providers: created, ms: Date.now() - started },
        'created signing keys for providers without one',
      );
    }
    return sealer;
  });
}
