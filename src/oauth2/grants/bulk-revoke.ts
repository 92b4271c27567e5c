import { Logger } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource, type EntityManager, type QueryRunner } from 'typeorm';
import { type Caller, callerPrincipal } from '../../common/auth/caller';
import type { Principal } from '../../common/auth/principal';
import { recordEvent } from '../../events/record-event';
import { grantTypeOf, Metrics } from '../../metrics/metrics';
import { type BulkRevokeInput, parseBulkRevokeBody } from './bulk-revoke.dto';
import { ACCESS_TOKENS, type GrantKind } from './grant-kind';
import { GrantStore, type Where } from './grant-store';

/**
 * How a real run is cut: rows revoked per transaction (each batch commits on its own, so its row locks are held for
 * one short UPDATE and readers, which never wait for row locks in PostgreSQL, keep their latency), and how many pks
 * an answer lists. Mutable for the tests, which use small batches to make concurrent runs interleave.
 */
export const BULK_REVOKE_LIMITS = { batchSize: 5000, firstIds: 100 };

/** Runs `work` in a transaction of its own on `runner`'s connection: committed, or rolled back on an error. */
async function inTransaction<T>(
  runner: QueryRunner,
  work: (manager: EntityManager) => Promise<T>,
): Promise<T> {
  await runner.startTransaction();
  try {
    const result = await work(runner.manager);
    await runner.commitTransaction();
    return result;
  } catch (error) {
    if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
    throw error;
  }
}

export interface BulkRevokeCascadeResult {
  model: string;
  count: number;
  first_ids: number[];
  own_only: boolean;
}

export interface BulkRevokeResult {
  dry_run: boolean;
  model: string;
  count: number;
  first_ids: number[];
  own_only: boolean;
  access_tokens?: BulkRevokeCascadeResult;
}

/**
 * POST /api/v3/oauth2/<type>/bulk_revoke/ (issue 14), and `grantry grants revoke` with its options as the body: the
 * body is validated by the handler (see below). The CLI's caller may act on every grant.
 */
export class BulkRevokeGrantsCommand extends Command<BulkRevokeResult> {
  constructor(
    readonly kind: GrantKind,
    readonly caller: Caller,
    readonly body: unknown,
  ) {
    super();
  }
}

/** One table's part of a bulk revocation: the rows `g` of `table` matching `clauses` (numbered over `params`). */
interface Target {
  kind: GrantKind;
  clauses: string[];
  params: unknown[];
  ownOnly: boolean;
}

const modelName = (kind: GrantKind): string => `authentik_providers_oauth2.${kind.permissionModel}`;

function targetOf(kind: GrantKind, where: Where, ownOnly: boolean): Target {
  return { kind, clauses: [...where.clauses], params: [...where.params], ownOnly };
}

/**
 * The access tokens "issued under" the refresh tokens `refresh` matches: those of the same authorization. Grantry
 * keeps no link from an access token to the refresh token it was exchanged with; every grant carries the
 * `family_id` of the authorization it descends from (an approved authorize, a device approval), shared by the code,
 * the access and refresh tokens issued for it, and every token issued by refreshing them (rotated refresh tokens
 * included). So the cascade takes every access token whose family is the family of a matching refresh token, revoked
 * or not (a refresh token rotated away still names its authorization). Refresh tokens without a family (written by
 * the CLI, the seed or an import, before issuance existed) have no access tokens under them.
 */
function cascadeOf(refresh: Target, principal: Principal, store: GrantStore): Target {
  const params = [...refresh.params];
  const families =
    `g.family_id IN (SELECT g.family_id FROM ${refresh.kind.table} g ` +
    `WHERE ${[...refresh.clauses, 'g.family_id IS NOT NULL'].join(' AND ')})`;
  const clauses = [families];
  const ownOnly = ownOnlyFor(ACCESS_TOKENS, principal, store);
  if (ownOnly) {
    // The refresh tokens' predicate is already narrowed to the caller's own when they may not act on others';
    // this narrows the access tokens by the access token permissions.
    params.push(principal.userId);
    clauses.push(`g.user_id = $${params.length}`);
  }
  return { kind: ACCESS_TOKENS, clauses, params, ownOnly };
}

/**
 * Whether the caller acts on their own grants only: without the delete permission (bulkPredicate), or without the
 * view permission (where(): what one cannot see, one cannot revoke, as a single DELETE answers 404 for it).
 */
function ownOnlyFor(kind: GrantKind, principal: Principal, store: GrantStore): boolean {
  return !store.canDeleteAny(kind, principal) || !store.canViewAll(kind, principal);
}

function firstIds(ids: number[]): number[] {
  return ids.sort((a, b) => a - b).slice(0, BULK_REVOKE_LIMITS.firstIds);
}

/**
 * Revokes (`revoked = true`, the row stays for audit and reuse detection) the grants of one type that match the
 * list's filters, or with `dry_run` counts them. See README "Bulk revocation".
 *
 * Checks in DRF's order after authentication: the body (unknown members, types, a non-empty predicate), then the
 * `user`/`provider` choices (400 as the list). No 403: any user may bulk-revoke, but a caller without both
 * `authentik_providers_oauth2.view_<model>` and `delete_<model>` only their own grants (own_only in the answer).
 */
@CommandHandler(BulkRevokeGrantsCommand)
export class BulkRevokeGrantsHandler implements ICommandHandler<BulkRevokeGrantsCommand> {
  private readonly logger = new Logger('BulkRevoke');

  constructor(
    private readonly dataSource: DataSource,
    private readonly store: GrantStore,
    private readonly metrics: Metrics,
  ) {}

  async execute({ kind, caller, body }: BulkRevokeGrantsCommand): Promise<BulkRevokeResult> {
    const principal = callerPrincipal(caller);
    const input = await parseBulkRevokeBody(kind, body);
    await this.store.checkFilters(input.filters);
    const where = this.store.bulkPredicate(kind, principal, input.filters);
    const main = targetOf(kind, where, ownOnlyFor(kind, principal, this.store));
    const cascade = input.includeAccessTokens ? cascadeOf(main, principal, this.store) : undefined;
    return input.dryRun ? this.dryRun(main, cascade) : this.revoke(main, cascade, input, caller);
  }

  /**
   * The count and first pks of what a real run would revoke now, from one statement (one snapshot); no event. The
   * first pks are sorted from the matches (`id + 0`), not found by walking the pk index (see the real run's range).
   */
  private async dryRun(main: Target, cascade: Target | undefined): Promise<BulkRevokeResult> {
    const params: unknown[] = [];
    const part = (target: Target, name: string): string => {
      const offset = params.length;
      params.push(...target.params);
      // Renumber the target's $n after the parameters already taken by the previous part.
      const clauses = [...target.clauses, 'NOT g.revoked']
        .map((clause) => clause.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`))
        .join(' AND ');
      return `(SELECT count(*) FROM ${target.kind.table} g WHERE ${clauses}) AS ${name}_count,
              ARRAY(SELECT g.id FROM ${target.kind.table} g WHERE ${clauses}
                     ORDER BY g.id + 0 LIMIT ${BULK_REVOKE_LIMITS.firstIds}) AS ${name}_ids`;
    };
    const sql = `SELECT ${[part(main, 'main'), ...(cascade ? [part(cascade, 'cascade')] : [])].join(', ')}`;
    const [row] = await this.dataSource.query<Record<string, string | number[]>[]>(sql, params);
    if (!row) throw new Error('bulk revoke dry run returned nothing');
    const result: BulkRevokeResult = {
      dry_run: true,
      model: modelName(main.kind),
      count: Number(row.main_count),
      first_ids: row.main_ids as number[],
      own_only: main.ownOnly,
    };
    if (cascade) {
      result.access_tokens = {
        model: modelName(cascade.kind),
        count: Number(row.cascade_count),
        first_ids: row.cascade_ids as number[],
        own_only: cascade.ownOnly,
      };
    }
    return result;
  }

  /**
   * A real run: each target in batches of BULK_REVOKE_LIMITS.batchSize rows, one transaction each, in pk order
   * within the pk range the matches had when the run started (grants created later are not part of it), keyset
   * (`id > last`, so a batch never rereads what the previous one revoked):
   *
   *     UPDATE t SET revoked = true FROM (SELECT id ... WHERE NOT revoked AND <predicate> AND id > $last
   *                                       ORDER BY id LIMIT n FOR UPDATE OF g SKIP LOCKED) picked ...
   *
   * A row is counted by the transaction that flips it: under READ COMMITTED a row locked and revoked by a concurrent
   * run is re-checked once that run commits (`NOT revoked` then fails) or was skipped while locked, so overlapping
   * runs never count a row twice, and their counts add up to the rows revoked. SKIP LOCKED lets them share the work;
   * a final pass from the start without it (waiting for the rows other transactions hold, then re-checking them)
   * makes sure nothing skipped is lost should the holder roll back. Refresh tokens go first, then the access tokens
   * under them, so a refresh token exchanged meanwhile cannot mint an access token that escapes.
   *
   * One audit event per run: inserted in the first batch's transaction and updated (count, `complete`) in every
   * later batch's, so at each commit the event and the revocations agree, and a run cut short (a crash, a timeout)
   * leaves an event saying how far it got.
   */
  private async revoke(
    main: Target,
    cascade: Target | undefined,
    input: BulkRevokeInput,
    caller: Caller,
  ): Promise<BulkRevokeResult> {
    const started = performance.now();
    const result: BulkRevokeResult = {
      dry_run: false,
      model: modelName(main.kind),
      count: 0,
      first_ids: [],
      own_only: main.ownOnly,
    };
    if (cascade) {
      result.access_tokens = {
        model: modelName(cascade.kind),
        count: 0,
        first_ids: [],
        own_only: cascade.ownOnly,
      };
    }
    let eventId: string | undefined;
    let batches = 0;
    const eventBody = (complete: boolean): Record<string, unknown> => ({
      model: result.model,
      filters: input.predicate,
      count: result.count,
      own_only: result.own_only,
      ...(result.access_tokens
        ? {
            cascade: {
              model: result.access_tokens.model,
              count: result.access_tokens.count,
              own_only: result.access_tokens.own_only,
            },
          }
        : {}),
      complete,
    });
    const record = async (manager: EntityManager, complete: boolean): Promise<void> => {
      if (eventId === undefined) {
        eventId = await recordEvent(manager, caller, {
          action: 'model_updated',
          context: { bulk_revoke: eventBody(complete) },
          objectUserId: input.filters.user ?? null,
          objectProviderId: input.filters.provider ?? null,
        });
      } else {
        await manager.query(
          `UPDATE audit_events SET context = jsonb_set(context, '{bulk_revoke}', $2::jsonb) WHERE id = $1`,
          [eventId, JSON.stringify(eventBody(complete))],
        );
      }
    };

    const targets: [Target, { count: number; first_ids: number[] }][] = [[main, result]];
    if (cascade && result.access_tokens) targets.push([cascade, result.access_tokens]);
    // One connection for the whole run, each batch a transaction on it: taking one from the pool per batch queued a
    // run of 100,000 rows behind the concurrent reads (the bench's 16 readers on a pool of 10) at every batch, where
    // a wait past DB_CONNECT_TIMEOUT_MS would fail it midway, batches already committed.
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      for (const [index, [target, tally]] of targets.entries()) {
        const lastTarget = index === targets.length - 1;
        const n = BULK_REVOKE_LIMITS.batchSize;
        const where = [...target.clauses, 'NOT g.revoked'].join(' AND ');
        // The pk range of the matching rows, found through the predicate's own indexes (`id + 0` keeps the planner
        // from walking the pk index for min/max). The batches walk the pk index between these bounds only: the
        // planner assumes matches spread evenly over the table and would otherwise, for rows clustered at one end (a
        // user's recent grants, everything issued since T), scan the whole table from id 0 to find the first batch.
        const [range] = (await runner.query(
          `SELECT min(g.id + 0) AS lo, max(g.id + 0) AS hi FROM ${target.kind.table} g WHERE ${where}`,
          target.params,
        )) as { lo: number | null; hi: number | null }[];
        const lo = (range?.lo ?? 1) - 1;
        const hi = range?.hi ?? 0;
        const bound = (k: number): string => `$${target.params.length + k}`;
        const batchSql = (skipLocked: boolean): string =>
          `UPDATE ${target.kind.table} t SET revoked = true
           FROM (SELECT g.id FROM ${target.kind.table} g
                  WHERE ${where} AND g.id > ${bound(1)} AND g.id <= ${bound(2)}
                  ORDER BY g.id LIMIT ${n} FOR UPDATE OF g${skipLocked ? ' SKIP LOCKED' : ''}) picked
          WHERE t.id = picked.id
          RETURNING t.id`;
        let skipLocked = true;
        let last = lo;
        for (;;) {
          const ids = await inTransaction(runner, async (manager) => {
            const rows = await manager.query<[{ id: number }[], number]>(batchSql(skipLocked), [
              ...target.params,
              last,
              hi,
            ]);
            const revoked = rows[0].map((row) => row.id);
            // Counted when this batch's transaction commits (the manager ties it to the commit).
            this.metrics.grantsRevoked(grantTypeOf(target.kind), revoked.length, 'bulk_revoke', manager);
            tally.count += revoked.length;
            tally.first_ids = firstIds([...tally.first_ids, ...revoked]);
            const done = !skipLocked && revoked.length < n;
            await record(manager, done && lastTarget);
            return revoked;
          });
          batches += 1;
          if (ids.length === n) {
            last = Math.max(...ids);
          } else if (skipLocked) {
            skipLocked = false;
            last = lo;
          } else {
            break;
          }
        }
      }
    } finally {
      await runner.release();
    }
    this.logger.log(
      `bulk revoke by user ${caller.kind === 'api' ? caller.principal.userId : 'cli'}: ${result.count} ` +
        `${main.kind.modelName}(s)` +
        (result.access_tokens ? ` and ${result.access_tokens.count} AccessToken(s)` : '') +
        ` in ${batches} batch(es), ${(performance.now() - started).toFixed(0)} ms (event ${eventId ?? '-'})`,
    );
    return result;
  }
}
