import { Where } from '../common/where';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ValidationApiError } from '../../common/errors/api-error';
import { type OrderTerm, parseOrdering } from '../../common/list-query/ordering';
import { paginatedBody, parsePage, parsePageSize, resolvePage } from '../../common/pagination/pagination';
import { JsonBody } from '../../common/serializers/json-body';
import { isoFromSql, isoSql } from '../../common/serializers/timestamps';
import type { AppConfig } from '../../config/config';
import { CLI_ACTOR } from '../../common/auth/caller';
import { EVENT_ACTIONS } from '../../events/record-event';
import { noMatch } from '../common/errors';
import { last, parseSearch, type RawQuery } from '../tokens/token-reader';

const ORDER_FIELDS = [
  'pk',
  'user',
  'action',
  'app',
  'context',
  'client_ip',
  'created',
  'expires',
  'brand',
] as const;
type OrderField = (typeof ORDER_FIELDS)[number];

/** What the events API serves for a row (migration TokensEvents: the SQL mapping of older and Grantry actions). */
const ACTION_SQL = 'grantry_event_action(e.action)';
const CONTEXT_SQL =
  'grantry_event_context(e.action, e.model, e.object_pk, e.actor_user_id, e.actor_username, e.context)';
const MODEL_SQL = 'grantry_event_model(e.model, e.object_pk, e.context)';

const ORDER_COLUMNS: Record<OrderField, string | null> = {
  pk: 'e.event_uuid',
  user: 'e.actor_username',
  action: ACTION_SQL,
  app: 'e.app',
  context: 'e.context',
  client_ip: 'e.client_ip',
  created: 'e.created',
  expires: 'e.expires',
  // Grantry has no brands: every event's brand is {}.
  brand: null,
};

export interface EventFilters {
  /** The actions `action=` (icontains) leaves; undefined when absent. */
  actionLike?: string[];
  actions?: string[];
  clientIp?: string;
  username?: string;
  modelPks?: string[];
  modelName?: string;
  modelApp?: string;
  authorizedApp?: string;
  device?: string;
  brandName?: string;
}

export interface EventListParams {
  page: ReturnType<typeof parsePage>;
  pageSize: number;
  ordering: OrderTerm<OrderField>[];
  filters: EventFilters;
  search: string[];
}

const all = (raw: string | string[] | undefined): string[] =>
  raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];

/** authentik's EventsFilter. Empty values are ignored; an `actions` value outside EventActions is a 400. */
export function parseEventFilters(query: RawQuery): EventFilters {
  const text = (name: string): string | undefined => {
    const value = last(query[name]);
    return value === undefined || value === '' ? undefined : value;
  };
  const filters: EventFilters = {};
  const action = text('action');
  if (action !== undefined) {
    // Every served action is an EventActions value, so `icontains` over them is membership in those that match.
    const needle = action.toLowerCase();
    filters.actionLike = EVENT_ACTIONS.filter((candidate) => candidate.includes(needle));
  }
  const actions = all(query.actions).filter((value) => value !== '');
  if (actions.length > 0) {
    const unknown = actions.find((value) => !(EVENT_ACTIONS as readonly string[]).includes(value));
    if (unknown !== undefined) {
      throw new ValidationApiError({
        actions: [`Select a valid choice. ${unknown} is not one of the available choices.`],
      });
    }
    filters.actions = [...new Set(actions)];
  }
  filters.clientIp = text('client_ip');
  filters.username = text('username');
  const pk = text('context_model_pk');
  if (pk !== undefined) {
    const stripped = pk.replaceAll('-', '');
    const pks = [stripped];
    // authentik ORs `context.model.pk = int(value)` when the value is a number.
    if (/^\s*[+-]?\d+\s*$/.test(stripped)) pks.push(BigInt(stripped.trim()).toString());
    filters.modelPks = [...new Set(pks)];
  }
  filters.modelName = text('context_model_name');
  filters.modelApp = text('context_model_app');
  filters.authorizedApp = text('context_authorized_app')?.replaceAll('-', '');
  filters.device = text('context_device');
  filters.brandName = text('brand_name');
  return filters;
}

export function parseEventListParams(query: RawQuery, config: AppConfig): EventListParams {
  const ordering = parseOrdering(query.ordering, ORDER_FIELDS, [{ field: 'created', descending: true }]);
  return {
    page: parsePage(query.page),
    pageSize: parsePageSize(query.page_size, config.pageSizeDefault, config.pageSizeMax),
    ordering,
    filters: parseEventFilters(query),
    search: parseSearch(query.search),
  };
}

interface EventRow {
  pk: string;
  actor: Record<string, unknown> | null;
  actor_user_id: number | null;
  actor_username: string;
  actor_email: string;
  action: string;
  app: string;
  context: Record<string, unknown>;
  client_ip: string | null;
  created: string;
  expires: string;
}

const COLUMNS = `e.event_uuid::text AS pk, e.actor, e.actor_user_id, e.actor_username, e.actor_email,
  ${ACTION_SQL} AS action, e.app, ${CONTEXT_SQL} AS context, e.client_ip,
  ${isoSql('e.created')} AS created, ${isoSql('e.expires')} AS expires`;

/** authentik's Event, in its key order. */
function toEventJson(row: EventRow): string {
  let user: Record<string, unknown>;
  if (row.actor !== null) user = row.actor;
  else if (row.actor_user_id !== null)
    user = { pk: row.actor_user_id, username: row.actor_username, email: row.actor_email };
  else if (row.actor_username === CLI_ACTOR) user = { username: CLI_ACTOR };
  else user = {};
  return JSON.stringify({
    pk: row.pk,
    user,
    action: row.action,
    app: row.app,
    context: row.context,
    client_ip: row.client_ip,
    created: isoFromSql(row.created),
    expires: isoFromSql(row.expires),
    // Grantry has no brands.
    brand: {},
  });
}

/**
 * The live count of a list filtered by actions at most, from `row_counts` (migration ManagementBench: per served
 * action, kept by triggers) minus the expired rows not yet cleaned up (audit_events_expires_idx, index-only), in the
 * list's REPEATABLE READ snapshot; undefined for other filters. At 1,000,000 events `count(*) ... WHERE expires >
 * now()` read the whole table for every page (bench/RESULTS.md, "Management API (issue 13)").
 */
function keptCountSql(
  filters: EventFilters,
  search: string[],
): { sql: string; params: unknown[] } | undefined {
  const { actionLike, actions, ...rest } = filters;
  if (search.length > 0 || Object.values(rest).some((value) => value !== undefined)) return undefined;
  const where = new Where();
  const keys = new Where();
  for (const list of [actionLike, actions]) {
    if (list === undefined) continue;
    const p = where.param(list);
    keys.add(`key = ANY(${p}::text[])`);
    where.add(`${ACTION_SQL} = ANY(${p}::text[])`);
  }
  where.add('e.expires <= now()');
  const kept = keys.toString().replace(/^WHERE /, 'AND ');
  return {
    sql: `SELECT ((SELECT coalesce(sum(delta), 0) FROM row_counts WHERE table_name = 'audit_events' ${kept})
                - (SELECT count(*) FROM audit_events e ${where.toString()}))::int AS n`,
    params: where.params,
  };
}

/**
 * `username=` alone, in the default order: its two halves (the actor, or a failed sign-in's `context.username`) each
 * read in order from their own index and merged, instead of fetching and sorting every matching row; the count from
 * audit_events_actor_username_live_idx (migration ManagementBench), index-only, plus the few failed sign-ins. For a
 * user with 3,000 events the OR read every one of them from the heap, twice per page (bench/RESULTS.md,
 * "Management API (issue 13)").
 */
function usernameOnly(
  filters: EventFilters,
  search: string[],
  order: string[],
): { username: string; count: string; page: (offset: number, size: number) => string } | undefined {
  const { username, ...rest } = filters;
  if (username === undefined || username.includes('\0') || search.length > 0) return undefined;
  if (Object.values(rest).some((value) => value !== undefined)) return undefined;
  if (order.join(', ') !== 'e.created DESC, e.id DESC') return undefined;
  const half = (match: string, reach: number): string =>
    `(SELECT e.id, e.created FROM audit_events e WHERE ${match} AND e.expires > now()
       ORDER BY e.created DESC, e.id DESC LIMIT ${reach})`;
  return {
    username,
    count: `SELECT ((SELECT count(*) FROM audit_events e WHERE e.actor_username = $1 AND e.expires > now())
                  + (SELECT count(*) FROM audit_events e
                      WHERE e.context->>'username' = $1 AND e.actor_username <> $1 AND e.expires > now()))::int AS n`,
    page: (offset, size) =>
      `SELECT m.id, row_number() OVER (ORDER BY m.created DESC, m.id DESC) AS ord
         FROM (${half('e.actor_username = $1', offset + size)}
               UNION ${half(`e.context->>'username' = $1`, offset + size)}) m
        ORDER BY m.created DESC, m.id DESC LIMIT ${size} OFFSET ${offset}`,
  };
}

/**
 * The event log as authentik's Event. A page is two statements whatever its size (count, page); every filter is a
 * condition on audit_events' own columns or on the IMMUTABLE mapping functions their expression indexes cover.
 */
@Injectable()
export class EventReader {
  constructor(private readonly dataSource: DataSource) {}

  private where(filters: EventFilters, search: string[], includeExpired = false): Where {
    const where = new Where();
    // authentik's default manager hides events past `expires` until they are cleaned up.
    if (!includeExpired) where.add('e.expires > now()');
    const nul = (value: string): boolean => value.includes('\0');
    const exact = (sql: string, value: string | undefined): void => {
      if (value === undefined) return;
      where.add(nul(value) ? 'false' : `${sql} = ${where.param(value)}`);
    };
    if (filters.actionLike) where.add(`${ACTION_SQL} = ANY(${where.param(filters.actionLike)})`);
    if (filters.actions) where.add(`${ACTION_SQL} = ANY(${where.param(filters.actions)})`);
    exact('e.client_ip', filters.clientIp);
    if (filters.username !== undefined) {
      if (nul(filters.username)) where.add('false');
      else {
        const p = where.param(filters.username);
        where.add(`(e.actor_username = ${p} OR e.context->>'username' = ${p})`);
      }
    }
    if (filters.modelPks) {
      const pks = filters.modelPks.filter((pk) => !nul(pk));
      where.add(`${MODEL_SQL}->>'pk' = ANY(${where.param(pks)})`);
    }
    exact(`${MODEL_SQL}->>'model_name'`, filters.modelName);
    exact(`${MODEL_SQL}->>'app'`, filters.modelApp);
    exact(`e.context->'authorized_application'->>'pk'`, filters.authorizedApp);
    exact(`e.context->'device'->>'pk'`, filters.device);
    // Grantry has no brands: no event matches a brand name.
    if (filters.brandName !== undefined) where.add('false');
    for (const term of search) {
      const p = where.param(`%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
      // authentik searches event_uuid, user, action, app, context and client_ip. What the served context adds to the
      // stored one (the model, grantry_action, username) comes from model/object_pk, action and actor_username, so
      // those columns are searched instead of the served JSON: the same matches without building it for every row.
      where.add(
        `(e.event_uuid::text ILIKE ${p} OR e.actor_username ILIKE ${p} OR ${ACTION_SQL} ILIKE ${p} OR e.action ILIKE ${p}` +
          ` OR e.app ILIKE ${p} OR e.context::text ILIKE ${p} OR e.model ILIKE ${p} OR e.object_pk::text ILIKE ${p}` +
          ` OR e.client_ip ILIKE ${p})`,
      );
    }
    return where;
  }

  async list(params: EventListParams): Promise<JsonBody> {
    const where = this.where(params.filters, params.search);
    const kept = params.ordering.filter((term) => ORDER_COLUMNS[term.field] !== null);
    const pkAt = kept.findIndex((term) => term.field === 'pk');
    const terms = pkAt >= 0 ? kept.slice(0, pkAt + 1) : kept;
    const order = terms.map((term) => `${ORDER_COLUMNS[term.field]} ${term.descending ? 'DESC' : 'ASC'}`);
    // Ties end on the row id, in the direction of the last term: `-created` reads the created index backwards
    // (an incremental sort settles equal timestamps) instead of sorting every matching row.
    if (pkAt < 0) order.push(`e.id ${(terms.at(-1)?.descending ?? true) ? 'DESC' : 'ASC'}`);
    const byUser = usernameOnly(params.filters, params.search, order);
    return this.dataSource.transaction('REPEATABLE READ', async (manager) => {
      const counting = keptCountSql(params.filters, params.search) ??
        (byUser && { sql: byUser.count, params: [byUser.username] }) ?? {
          sql: `SELECT count(*)::int AS n FROM audit_events e ${where.toString()}`,
          params: where.params,
        };
      const [counted] = await manager.query<{ n: number }[]>(counting.sql, counting.params);
      const count = counted?.n ?? 0;
      const page = resolvePage(params.page, count, params.pageSize);
      const offset = (page - 1) * params.pageSize;
      // The page's ids first, then their served columns: a deep page skips rows without building their JSON.
      const ids = byUser
        ? byUser.page(offset, params.pageSize)
        : `SELECT e.id, row_number() OVER (ORDER BY ${order.join(', ')}) AS ord
             FROM audit_events e ${where.toString()}
            ORDER BY ${order.join(', ')} LIMIT ${params.pageSize} OFFSET ${offset}`;
      const rows = await manager.query<EventRow[]>(
        `SELECT ${COLUMNS} FROM audit_events e JOIN (${ids}) page ON page.id = e.id ORDER BY page.ord`,
        byUser ? [byUser.username] : where.params,
      );
      return paginatedBody(page, count, params.pageSize, rows.map(toEventJson));
    });
  }

  /** One live event by uuid (passing the query's filters, as DRF's get_object), else 404. */
  async one(uuid: string, query: RawQuery, includeExpired = false): Promise<JsonBody> {
    const where = this.where(parseEventFilters(query), parseSearch(query.search), includeExpired);
    where.add(`e.event_uuid = ${where.param(uuid)}`);
    const [row] = await this.dataSource.query<EventRow[]>(
      `SELECT ${COLUMNS} FROM audit_events e ${where.toString()}`,
      where.params,
    );
    if (!row) throw noMatch('Event');
    return new JsonBody([toEventJson(row)]);
  }
}
