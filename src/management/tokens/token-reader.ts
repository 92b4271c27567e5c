import { parseSearch } from '../../oauth2/grants/list-params';
import { lastValue as last, type RawQuery, likePattern } from '../../common/list-query/query-params';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager, type SelectQueryBuilder } from 'typeorm';
import { type Caller, callerCan, callerUserId } from '../../common/auth/caller';
import { ValidationApiError } from '../../common/errors/api-error';
import { type OrderTerm, parseOrdering, withPrimaryKey } from '../../common/list-query/ordering';
import { paginatedBody, parsePage, parsePageSize, resolvePage } from '../../common/pagination/pagination';
import { AvatarResolver } from '../../common/serializers/avatar';
import { JsonBody } from '../../common/serializers/json-body';
import { isoFromSql, isoSql } from '../../common/serializers/timestamps';
import { toUserDto, type UserRow } from '../../common/serializers/user';
import { parseDateTime } from '../../common/validation/fields';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { ApiTokenEntity } from '../../identity/api-token.entity';
import { InstallEntity } from '../../identity/install.entity';
import { INTENT_ENUM } from './token.openapi';

export const VIEW_TOKEN = 'authentik_core.view_token';

/** PostgreSQL text cannot hold NUL: a value with one matches nothing (an exact filter) or loses it (search). */
const hasNul = (value: string): boolean => value.includes('\0');

const ORDER_FIELDS = [
  'pk',
  'managed',
  'identifier',
  'intent',
  'user',
  'description',
  'expires',
  'expiring',
] as const;
type OrderField = (typeof ORDER_FIELDS)[number];
/** Ordering terms as the entity's property paths (alias `t`); PostgreSQL's default NULLS placement, as before. */
const ORDER_COLUMNS: Record<OrderField, string | null> = {
  pk: 't.id',
  // Grantry has no managed tokens: every row's `managed` is null, so ordering by it is a no-op.
  managed: null,
  identifier: 't.identifier',
  intent: 't.intent',
  user: 't.userId',
  description: 't.description',
  expires: 't.expires',
  expiring: 't.expiring',
};

export interface TokenListParams {
  page: ReturnType<typeof parsePage>;
  pageSize: number;
  ordering: OrderTerm<OrderField>[];
  filters: TokenFilters;
  search: string[];
  flags: NestingFlags;
}

export interface NestingFlags {
  includeGroups: boolean;
  includeRoles: boolean;
}

export interface TokenFilters {
  identifier?: string;
  intent?: string;
  username?: string;
  description?: string;
  expires?: Date;
  expiring?: boolean;
  managed?: string;
}

function flag(raw: string | string[] | undefined): boolean {
  return (last(raw) ?? 'true').toLowerCase() === 'true';
}

export function nestingFlags(query: RawQuery): NestingFlags {
  return { includeGroups: flag(query.include_groups), includeRoles: flag(query.include_roles) };
}

/**
 * The token list's filters, as django-filter's rest_framework FilterSet reads them: empty values are ignored, an
 * unknown `intent` or a malformed `expires` is a 400, and a boolean other than true/false/1/0 is ignored.
 */
export function parseTokenFilters(query: RawQuery): TokenFilters {
  const filters: TokenFilters = {};
  const errors: Record<string, string[]> = {};
  const text = (name: string): string | undefined => {
    const value = last(query[name]);
    return value === undefined || value === '' ? undefined : value;
  };
  filters.identifier = text('identifier');
  filters.username = text('user__username');
  filters.description = text('description');
  filters.managed = text('managed');
  const intent = text('intent');
  if (intent !== undefined) {
    if ((INTENT_ENUM as readonly string[]).includes(intent)) filters.intent = intent;
    else errors.intent = [`Select a valid choice. ${intent} is not one of the available choices.`];
  }
  const expires = text('expires');
  if (expires !== undefined) {
    const date = parseDateTime(expires.trim());
    if (date) filters.expires = date;
    else errors.expires = ['Enter a valid date/time.'];
  }
  const expiring = text('expiring')?.toLowerCase();
  if (expiring === 'true' || expiring === '1') filters.expiring = true;
  if (expiring === 'false' || expiring === '0') filters.expiring = false;
  if (Object.keys(errors).length > 0) throw new ValidationApiError(errors);
  return filters;
}

export function parseTokenListParams(query: RawQuery, config: AppConfig): TokenListParams {
  const ordering = parseOrdering(query.ordering, ORDER_FIELDS, [
    { field: 'identifier', descending: false },
    { field: 'expires', descending: false },
  ]);
  return {
    page: parsePage(query.page),
    pageSize: parsePageSize(query.page_size, config.pageSizeDefault, config.pageSizeMax),
    ordering: withPrimaryKey(ordering, 'pk'),
    filters: parseTokenFilters(query),
    search: parseSearch(query.search),
    flags: nestingFlags(query),
  };
}

/** What a token row reads as, for the serializer. */
interface TokenRow {
  id: string;
  identifier: string;
  intent: string;
  user_id: number;
  description: string;
  expires: string | null;
  expiring: boolean;
}

type TokenQuery = SelectQueryBuilder<ApiTokenEntity>;

/**
 * authentik's ObjectFilter with owner_field `user`: a caller with view_token sees every token (undefined), others
 * only their own (their user id; null, matching nothing, for a caller that is no user).
 */
export function visibleOwner(caller: Caller): number | null | undefined {
  return callerCan(caller, VIEW_TOKEN) ? undefined : callerUserId(caller);
}

/** The serializer's columns; `expires` as text, so PostgreSQL's microseconds survive (a JavaScript Date drops them). */
function selectRow(builder: TokenQuery): TokenQuery {
  return builder
    .select('t.id', 'id')
    .addSelect('t.identifier', 'identifier')
    .addSelect('t.intent', 'intent')
    .addSelect('t.userId', 'user_id')
    .addSelect('t.description', 'description')
    .addSelect(isoSql('t.expires'), 'expires')
    .addSelect('t.expiring', 'expiring');
}

/**
 * Reads tokens as authentik's Token: a page costs three statements whatever its size (count, page, the page's owners'
 * stored documents, migration Documents).
 */
@Injectable()
export class TokenReader {
  private readonly avatars: AvatarResolver;
  private installId: string | undefined;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.avatars = new AvatarResolver(config.avatars);
  }

  /** The visible tokens passing the filters and search, joined to their owners (for `user__username`). */
  private visible(
    manager: EntityManager,
    caller: Caller,
    filters: TokenFilters,
    search: string[],
  ): TokenQuery {
    const builder = manager.createQueryBuilder(ApiTokenEntity, 't').innerJoin('t.user', 'u');
    const owner = visibleOwner(caller);
    if (owner !== undefined) builder.andWhere('t.userId = :owner', { owner });
    const exact = (column: string, name: string, value: string | undefined): void => {
      if (value === undefined) return;
      if (hasNul(value)) builder.andWhere('false');
      else builder.andWhere(`${column} = :${name}`, { [name]: value });
    };
    exact('t.identifier', 'identifier', filters.identifier);
    exact('t.intent', 'intent', filters.intent);
    exact('u.username', 'username', filters.username);
    exact('t.description', 'description', filters.description);
    // Grantry has no managed tokens: any `managed=` value matches nothing.
    if (filters.managed !== undefined) builder.andWhere('false');
    if (filters.expires !== undefined) builder.andWhere('t.expires = :expires', { expires: filters.expires });
    if (filters.expiring !== undefined) {
      builder.andWhere('t.expiring = :expiring', { expiring: filters.expiring });
    }
    search.forEach((term, i) => {
      const p = `:search${i}`;
      builder.andWhere(
        `(t.identifier ILIKE ${p} OR t.intent ILIKE ${p} OR u.username ILIKE ${p} OR t.description ILIKE ${p})`,
        { [`search${i}`]: likePattern(term) },
      );
    });
    return builder;
  }

  async list(caller: Caller, params: TokenListParams): Promise<JsonBody> {
    return this.dataSource.transaction('REPEATABLE READ', async (manager) => {
      const builder = this.visible(manager, caller, params.filters, params.search);
      const count = await builder.getCount();
      const page = resolvePage(params.page, count, params.pageSize);
      for (const term of params.ordering) {
        const column = ORDER_COLUMNS[term.field];
        if (column !== null) builder.addOrderBy(column, term.descending ? 'DESC' : 'ASC');
      }
      const rows = await selectRow(builder)
        .offset((page - 1) * params.pageSize)
        .limit(params.pageSize)
        .getRawMany<TokenRow>();
      const results = await this.serialize(manager, rows, params.flags);
      return paginatedBody(page, count, params.pageSize, results);
    });
  }

  /** One visible token (passing the filters, as DRF's get_object filters), or undefined. */
  async one(
    manager: EntityManager,
    caller: Caller,
    identifier: string,
    filters: TokenFilters = {},
    search: string[] = [],
  ): Promise<TokenRow | undefined> {
    if (hasNul(identifier) || identifier.length > 255) return undefined;
    const builder = this.visible(manager, caller, filters, search).andWhere('t.identifier = :lookup', {
      lookup: identifier,
    });
    return selectRow(builder).getRawOne<TokenRow>();
  }

  /** A token by id as authentik's Token JSON (after a write, inside its transaction). */
  async byId(manager: EntityManager, id: string, flags: NestingFlags): Promise<JsonBody> {
    const row = await selectRow(manager.createQueryBuilder(ApiTokenEntity, 't'))
      .where('t.id = :id', { id })
      .getRawOne<TokenRow>();
    const [json] = await this.serialize(manager, row ? [row] : [], flags);
    if (json === undefined) throw new Error(`token ${id} vanished inside its own transaction`);
    return new JsonBody([json]);
  }

  async serializeOne(manager: EntityManager, row: TokenRow, flags: NestingFlags): Promise<JsonBody> {
    const [json] = await this.serialize(manager, [row], flags);
    return new JsonBody([json ?? '{}']);
  }

  /** authentik's Token, in its key order; `managed` is always null (Grantry has no managed tokens). */
  private async serialize(manager: EntityManager, rows: TokenRow[], flags: NestingFlags): Promise<string[]> {
    if (rows.length === 0) return [];
    const ids = [...new Set(rows.map((row) => row.user_id))];
    // Raw: `user_documents` (the users' stored API documents, kept by the users module) has no entity.
    const docs = await manager.query<{ user_id: number; doc: UserRow }[]>(
      'SELECT user_id, doc FROM user_documents WHERE user_id = ANY($1)',
      [ids],
    );
    const context = { installId: await this.getInstallId(manager), avatars: this.avatars, ...flags };
    const users = new Map(docs.map((d) => [d.user_id, JSON.stringify(toUserDto(d.doc, context))]));
    return rows.map((row) => {
      const user = users.get(row.user_id);
      if (user === undefined) throw new Error(`token ${row.id} lost its user while being read`);
      return (
        `{"pk":${JSON.stringify(row.id)},"managed":null,"identifier":${JSON.stringify(row.identifier)},` +
        `"intent":${JSON.stringify(row.intent)},"user":${row.user_id},"user_obj":${user},` +
        `"description":${JSON.stringify(row.description)},"expires":${JSON.stringify(isoFromSql(row.expires))},` +
        `"expiring":${row.expiring}}`
      );
    });
  }

  private async getInstallId(manager: EntityManager): Promise<string> {
    if (this.installId === undefined) {
      const install = await manager.findOneBy(InstallEntity, { id: 1 });
      if (!install) throw new Error('install row missing: migrations not applied');
      this.installId = install.installId;
    }
    return this.installId;
  }
}

export { parseSearch } from '../../oauth2/grants/list-params';
export { lastValue as last, type RawQuery } from '../../common/list-query/query-params';
