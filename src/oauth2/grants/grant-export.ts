import { Readable } from 'node:stream';
import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Principal } from '../../common/auth/principal';
import { ValidationApiError } from '../../common/errors/api-error';
import { lastValue, type RawQuery } from '../../common/list-query/query-params';
import { isoFromSql, isoSql } from '../../common/serializers/timestamps';
import type { GrantKind } from './grant-kind';
import { GrantStore } from './grant-store';
import type { FilterParams } from './list-params';

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * The export's flat columns, in order (the CSV header and the NDJSON key order). Never a secret or anything derived
 * from one: no token_hash/code_hash, no id_token (its at_hash/c_hash are halves of the token's and code's SHA-256,
 * its nonce is the client's), no PKCE challenge.
 */
export const EXPORT_COLUMNS = [
  'pk',
  'type',
  'user_pk',
  'username',
  'provider_pk',
  'provider_name',
  'client_id',
  'application',
  'scope',
  'expires',
  'is_expired',
  'revoked',
  'revoked_at',
  'created',
  'auth_time',
  'session_id',
  'family_id',
] as const;

export interface ExportRow {
  pk: number;
  type: 'access_token' | 'refresh_token' | 'authorization_code';
  user_pk: number;
  username: string;
  provider_pk: number;
  provider_name: string;
  client_id: string;
  application: string | null;
  scope: string[];
  expires: string | null;
  is_expired: boolean;
  revoked: boolean;
  /** When it was revoked; null when it is not, or was revoked at an unknown time (migration GrantRevokedAt). */
  revoked_at: string | null;
  created: string;
  auth_time: string | null;
  session_id: string | null;
  family_id: string | null;
}

/** Rows read per statement: big enough that a million rows are 500 statements, small enough to stay a few MB. */
export const EXPORT_BATCH_ROWS = 2000;

const TYPES: Record<GrantKind['table'], ExportRow['type']> = {
  oauth2_access_tokens: 'access_token',
  oauth2_refresh_tokens: 'refresh_token',
  oauth2_authorization_codes: 'authorization_code',
};

/** `format`: a strict Grantry parameter (DRF ChoiceField's message); absent or empty means ndjson. */
export function parseExportFormat(query: RawQuery): ExportFormat {
  const value = lastValue(query.format)?.trim() ?? '';
  if (value === '') return 'ndjson';
  if ((EXPORT_FORMATS as readonly string[]).includes(value)) return value as ExportFormat;
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  throw new ValidationApiError({ format: [`"${shown}" is not a valid choice.`] });
}

/**
 * A CSV cell (RFC 4180): text is always quoted, with `"` doubled; null is an empty unquoted cell, so it differs from
 * an empty string (`""`). Text that a spreadsheet would read as a formula (starting with = + - @, tab or CR, OWASP's
 * CSV injection list) gets a leading `'`: usernames, provider and application names are chosen by users.
 */
export function csvCell(value: string | number | boolean | null): string {
  if (value === null) return '';
  if (typeof value !== 'string') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

export function csvLine(row: ExportRow): string {
  return `${EXPORT_COLUMNS.map((column) => {
    const value = row[column];
    return csvCell(Array.isArray(value) ? value.join(' ') : value);
  }).join(',')}\r\n`;
}

export const CSV_HEADER = `${EXPORT_COLUMNS.join(',')}\r\n`;

interface BatchRow extends Omit<ExportRow, 'type' | 'scope'> {
  scope: string;
}

/** One export under way, for shutdown and for tests that watch it stop. */
export interface ExportProgress {
  readonly table: string;
  rows: number;
  /** How it ended: the last row sent, the client gone (or the stream destroyed), or a failed read. */
  outcome?: 'complete' | 'aborted' | 'failed';
}

export interface GrantExport {
  stream: Readable;
  contentType: string;
  filename: string;
  /** Rows streamed so far, and how the stream ended (the CLI reports the count). */
  progress: ExportProgress;
}

/**
 * Streams the grants the list would show (same visibility, filters and search: GrantStore.visiblePredicate) as flat
 * rows, in pk order, reading keyset batches of EXPORT_BATCH_ROWS.
 *
 * Each batch is its own short statement on a pooled connection, not one long REPEATABLE READ transaction: an export
 * is paced by its client (backpressure), and a slow or stalled client would otherwise hold a pool connection and an
 * old snapshot (holding back vacuum on the busiest tables) for as long as it likes. The price: the export is not one
 * snapshot. Rows are those whose pk was at most the largest pk when the export started (grants issued later are
 * left out), each row as it was when its batch was read; a grant revoked or deleted during the export shows as it
 * was when its batch was read.
 */
@Injectable()
export class GrantExporter {
  private readonly logger = new Logger(GrantExporter.name);
  readonly running = new Set<ExportProgress>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly store: GrantStore,
  ) {}

  /**
   * Checks the filters and reads the first batch before answering, so that a bad filter or a failing database is an
   * ordinary JSON error. Later failures can only cut the transfer (see the controller).
   */
  async open(
    kind: GrantKind,
    principal: Principal,
    filters: FilterParams,
    search: string[],
    format: ExportFormat,
  ): Promise<GrantExport> {
    await this.store.checkFilters(filters);
    const where = this.store.visiblePredicate(kind, principal, filters, search);
    const [bound] = await this.dataSource.query<{ max: number | null }[]>(
      `SELECT max(id) AS max FROM ${kind.table}`,
    );
    const maxId = bound?.max ?? 0;
    const n = where.params.length;
    const condition = [...where.clauses, `g.id > $${n + 1}`, `g.id <= $${n + 2}`].join(' AND ');
    // The comment names the statement in pg_stat_activity.
    const sql = `/* grantry:export */
      SELECT g.id AS pk, g.user_id AS user_pk, u.username, g.provider_id AS provider_pk,
             p.name AS provider_name, p.client_id, a.slug AS application, g.scope,
             ${isoSql('g.expires')} AS expires, COALESCE(g.expiring AND g.expires < now(), false) AS is_expired,
             g.revoked, ${isoSql('g.revoked_at')} AS revoked_at, ${isoSql('g.created')} AS created, ${isoSql('g.auth_time')} AS auth_time,
             g.session_id, g.family_id
        FROM (SELECT g.id, g.user_id, g.provider_id, g.scope, g.expires, g.expiring, g.revoked, g.revoked_at, g.created,
                     g.auth_time, g.session_id, g.family_id
                FROM ${kind.table} g WHERE ${condition} ORDER BY g.id LIMIT ${EXPORT_BATCH_ROWS}) g
        JOIN users u ON u.id = g.user_id
        JOIN oauth2_providers p ON p.id = g.provider_id
        LEFT JOIN applications a ON a.provider_id = p.id
       ORDER BY g.id`;
    const read = (after: number): Promise<BatchRow[]> =>
      this.dataSource.query<BatchRow[]>(sql, [...where.params, after, maxId]);

    const first = await read(0);
    const progress: ExportProgress = { table: kind.table, rows: 0 };
    const type = TYPES[kind.table];
    const encode = format === 'csv' ? csvLine : (row: ExportRow): string => `${JSON.stringify(row)}\n`;
    const logger = this.logger;
    const running = this.running;

    async function* chunks(): AsyncGenerator<Buffer> {
      running.add(progress);
      try {
        let rows = first;
        let text = format === 'csv' ? CSV_HEADER : '';
        for (;;) {
          for (const row of rows) text += encode(toExportRow(row, type));
          progress.rows += rows.length;
          if (text !== '') yield Buffer.from(text, 'utf8');
          text = '';
          const last = rows[rows.length - 1];
          if (rows.length < EXPORT_BATCH_ROWS || last === undefined) break;
          rows = await read(last.pk);
        }
        progress.outcome = 'complete';
      } catch (error) {
        progress.outcome = 'failed';
        throw error;
      } finally {
        progress.outcome ??= 'aborted';
        running.delete(progress);
        const message = `export of ${kind.table} ${progress.outcome}: ${progress.rows} rows read`;
        if (progress.outcome === 'complete') logger.log(message);
        else logger.warn(message);
      }
    }

    const stamp = new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
    return {
      // Bytes, not objects: the stream holds at most one batch ahead of what the socket accepted.
      stream: Readable.from(chunks(), { objectMode: false, highWaterMark: 1 }),
      contentType: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
      filename: `${kind.table.replace(/^oauth2_/, '')}-${stamp}.${format}`,
      progress,
    };
  }
}

function toExportRow(row: BatchRow, type: ExportRow['type']): ExportRow {
  return {
    pk: row.pk,
    type,
    user_pk: row.user_pk,
    username: row.username,
    provider_pk: row.provider_pk,
    provider_name: row.provider_name,
    client_id: row.client_id,
    application: row.application,
    scope: row.scope.split(' ').filter(Boolean),
    expires: isoFromSql(row.expires),
    is_expired: row.is_expired,
    revoked: row.revoked,
    revoked_at: isoFromSql(row.revoked_at),
    created: isoFromSql(row.created) ?? '',
    auth_time: isoFromSql(row.auth_time),
    session_id: row.session_id,
    family_id: row.family_id,
  };
}
