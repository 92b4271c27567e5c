import { likePattern } from '../../common/list-query/query-params';
import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { Principal } from '../../common/auth/principal';
import { ApiError, DETAIL } from '../../common/errors/api-error';
import type { OrderTerm } from '../../common/list-query/ordering';
import { paginatedBody, resolvePage } from '../../common/pagination/pagination';
import { AvatarResolver } from '../../common/serializers/avatar';
import { formatIdToken } from '../../common/serializers/id-token';
import { JsonBody } from '../../common/serializers/json-body';
import { type ProviderRow, toProviderDto } from '../../common/serializers/provider';
import { isoFromSql, isoSql } from '../../common/serializers/timestamps';
import { toUserDto, type UserRow } from '../../common/serializers/user';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { preparedQuery, StatementNames } from '../../database/prepared';
import { unfoldedGrantDeltas } from './grant-counts';
import { deletePermission, type GrantKind, type OrderingField, viewPermission } from './grant-kind';
import { type FilterParams, hasIncidentFilter, invalidChoice, type ListParams } from './list-params';
import { type PageWindow, pageWindow } from './page-window';

interface GrantRow {
  /** Position in the requested order. */
  ord: number;
  id: number;
  provider_id: number;
  user_id: number;
  expires: string | null;
  is_expired: boolean;
  revoked: boolean;
  scope: string;
  id_token?: Record<string, unknown>;
}

const ORDER_COLUMNS: Record<OrderingField, string> = {
  pk: 'g.id',
  provider: 'g.provider_id',
  user: 'g.user_id',
  expires: 'g.expires',
  revoked: 'g.revoked',
};

interface FilterCheckRow {
  user_ok: boolean;
  provider_ok: boolean;
}

/** Whether the `user` and `provider` filters (parameters $n and $n+1, NULL when absent) name existing rows. */
const FILTER_CHECK_SQL = (n: number): string =>
  `($${n}::int IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = $${n})) AS user_ok,
   ($${n + 1}::int IS NULL OR EXISTS (SELECT 1 FROM oauth2_providers WHERE id = $${n + 1})) AS provider_ok`;

/** Up to this many matches, a search sorts its matches rather than walking the ordering index (see list). */
const MATERIALIZE_MATCHES_UP_TO = 20_000;

/**
 * A row of relatedSql: the head (only when asked for), one of the page's grants, or one of the users and providers
 * they reference, each its own small JSON document.
 */
type RelatedRow =
  | { kind: 0; doc: HeadRow }
  | { kind: 1; doc: GrantRow }
  | { kind: 2; doc: UserRow }
  | { kind: 3; doc: ProviderRow };

/** relatedSql's rows, sorted out. */
interface Related {
  head?: HeadRow;
  grants: GrantRow[];
  users: Map<number, UserRow>;
  providers: Map<number, ProviderRow>;
}

function sortRelated(rows: RelatedRow[]): Related {
  const related: Related = { grants: [], users: new Map(), providers: new Map() };
  for (const row of rows) {
    if (row.kind === 0) related.head = row.doc;
    else if (row.kind === 1) related.grants.push(row.doc);
    else if (row.kind === 2) related.users.set(row.doc.id, row.doc);
    else related.providers.set(row.doc.id, row.doc);
  }
  related.grants.sort((a, b) => a.ord - b.ord);
  return related;
}

interface HeadRow extends FilterCheckRow {
  count: string;
  /** [provider id, rows] of every provider with grants, when the list is ordered by provider first. */
  providers?: [number, number | string][] | null;
}

const orderBySql = (terms: OrderTerm<OrderingField>[]): string =>
  terms.map((term) => `${ORDER_COLUMNS[term.field]} ${term.descending ? 'DESC' : 'ASC'}`).join(', ');

/**
 * Whether the ordering is the default `provider, expires, pk` or its exact reverse: the orderings that one index,
 * (provider_id, expires, id), serves, and whose pages per-provider counts can locate.
 */
function providerFirst(ordering: OrderTerm<OrderingField>[]): { ascending: boolean } | undefined {
  const fields = ordering.map((term) => term.field).join(',');
  const directions = new Set(ordering.map((term) => term.descending));
  if (fields !== 'provider,expires,pk' || directions.size !== 1) return undefined;
  return { ascending: !ordering[0]?.descending };
}

/**
 * Builds a WHERE clause with numbered parameters. Each condition also comes as the set of ids it selects, answered
 * from an index alone (every grant index ends with the pk): a count over conditions that a single index cannot serve
 * (a search's "user matches OR provider matches") intersects those sets instead of visiting a row per match.
 */
export class Where {
  readonly clauses: string[] = [];
  readonly idSets: string[] = [];
  readonly params: unknown[] = [];
  /**
   * The conditions as the kept facet counts (migration GrantFacetCounts) can answer them, or undefined once one
   * condition has no facet form (see add()).
   */
  private facets: { clauses: string[]; word?: string; boundaries: string[] } | undefined = {
    clauses: [],
    boundaries: [],
  };
  /**
   * The conditions on the provider alone (`provider`, `application`, `client_id`), as `= <value>`: when they are all
   * there is, the trigger-maintained per-provider counts answer the count.
   */
  readonly providerTerms: string[] = [];
  /** Whether a condition bounds the expiry (expires__lt, expires__gte), and whether every condition is such a bound
   * or names the provider: see byProviderRange. */
  private expiryBound = false;
  private onlyRangeAndProvider = true;

  /**
   * A condition on the grant `g`, with the ids it selects when an index answers it, and its facet form: the same
   * condition on a `grant_facet_counts` row `c` (c.revoked, c.expiring, c.bucket standing for g.expires), the scope
   * word it requires, or the instant at which it changes within an hour's bucket. Without a facet form, the count
   * cannot come from the facets.
   */
  add(
    clause: string,
    idSet?: string,
    facet?: { clause?: string; word?: string; boundary?: string },
    role?: 'expiry bound' | 'provider',
  ): void {
    this.clauses.push(clause);
    if (role === 'expiry bound') this.expiryBound = true;
    else if (role !== 'provider') this.onlyRangeAndProvider = false;
    if (idSet) this.idSets.push(idSet);
    if (!facet || !this.facets || (facet.word !== undefined && this.facets.word !== undefined)) {
      this.facets = undefined;
      return;
    }
    if (facet.clause) this.facets.clauses.push(facet.clause);
    if (facet.word !== undefined) this.facets.word = facet.word;
    if (facet.boundary) this.facets.boundaries.push(facet.boundary);
  }

  /**
   * Whether the conditions are an expiry range (with at most a provider): then, in the provider-first ordering,
   * pageSql walks the (provider_id, expires, id) index one provider at a time from the range's start, which reads
   * only matching entries whatever the range, and the statement can be prepared (see GrantStore.list).
   */
  get byProviderRange(): boolean {
    return this.expiryBound && this.onlyRangeAndProvider;
  }

  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  toString(): string {
    return this.clauses.length === 0 ? '' : `WHERE ${this.clauses.join(' AND ')}`;
  }

  /** COUNT(*) of the rows matching every condition, from the id sets when each condition has one. */
  countSql(table: string, bySets: boolean): string {
    if (!bySets || this.idSets.length !== this.clauses.length || this.idSets.length === 0) {
      return `SELECT count(*) FROM ${table} g ${this.toString()}`;
    }
    return `SELECT count(*) FROM (${this.idSets.map((set) => `(${set})`).join(' INTERSECT ')}) ids`;
  }

  /**
   * COUNT(*) of the rows matching every condition from the kept facet counts (migration GrantFacetCounts), when
   * every condition has a facet form: the sum of the facet rows of every hour whose grants all agree with the
   * conditions, plus a count, through the expiry index, of the grants of the hours holding one of the conditions'
   * instants. Undefined when the facets cannot answer (or when there is no condition: grant_counts answers that).
   *
   * Measured at 1,000,000 access tokens (bench/RESULTS.md, "Incident inventory (issue 14)"): counting
   * `is_expired=true` scanned 885,000 index entries, `scope=` bitmap-scanned 98,000 rows; this reads the facet rows
   * of one table (a few thousand) and the grants of at most three hours.
   */
  facetCountSql(table: string): string | undefined {
    const facets = this.facets;
    if (!facets || this.clauses.length === 0) return undefined;
    // The folded facets and the changes not folded yet (unfoldedGrantDeltas), which keep the scope as it is: a
    // grant with the word counts once, however often its scope repeats it.
    const facetRows = `(SELECT revoked, expiring, bucket, delta FROM grant_facet_counts
                         WHERE table_name = '${table}' AND ${facets.word === undefined ? 'word IS NULL' : `word = ${facets.word}`}
                        UNION ALL
                        SELECT revoked, expiring, bucket, delta FROM (${unfoldedGrantDeltas(table)}) u
                         ${facets.word === undefined ? '' : `WHERE ${facets.word} = ANY (string_to_array(u.scope, ' '))`}) c`;
    const conditions = facets.clauses.join(' AND ');
    if (facets.boundaries.length === 0) {
      return `SELECT coalesce(sum(c.delta), 0) FROM ${facetRows} ${conditions ? `WHERE ${conditions}` : ''}`;
    }
    // The hours holding an instant of the filter, computed once: their facets are left out of the sum and their
    // grants counted through the expiry index instead.
    const boundaryHours = `SELECT DISTINCT grant_expiry_bucket(x) AS start
                             FROM unnest(ARRAY[${facets.boundaries.join(', ')}]::timestamptz[]) x`;
    return `WITH h AS MATERIALIZED (${boundaryHours})
            SELECT (SELECT coalesce(sum(c.delta), 0) FROM ${facetRows}
                     WHERE ${conditions ? `${conditions} AND ` : ''}(c.bucket IS NULL OR c.bucket NOT IN (SELECT start FROM h)))
                 + (SELECT count(*) FROM h JOIN ${table} g ON g.expires >= h.start AND g.expires < h.start + interval '1 hour'
                     ${this.toString()})`;
  }
}

/**
 * The kept per-provider counts of a grant table as (provider_id, delta) rows: the folded ones and the changes not
 * folded yet (migrations GrantCounts, GrantFoldMarks; unfoldedGrantDeltas), read in one snapshot.
 */
const providerCountRows = (table: string): string =>
  `(SELECT provider_id, delta FROM grant_counts WHERE table_name = '${table}'
    UNION ALL SELECT provider_id, delta FROM (${unfoldedGrantDeltas(table)}) u) kept`;

function integerLiteral(value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`not a row count: ${value}`);
  return String(value);
}

/**
 * The read and write path shared by the three grant types. Every request costs a fixed number of queries whatever
 * the page size: the page, the count, one for the page's users (with groups and roles) and one for its providers.
 */
@Injectable()
export class GrantStore {
  private readonly avatars: AvatarResolver;
  private readonly statementNames = new StatementNames('grantry_list', 64);
  private installId: Promise<string> | undefined;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.avatars = new AvatarResolver(config.avatars);
  }

  canViewAll(kind: GrantKind, principal: Principal): boolean {
    return principal.isSuperuser || principal.permissions.has(viewPermission(kind));
  }

  canDeleteAny(kind: GrantKind, principal: Principal): boolean {
    return principal.isSuperuser || principal.permissions.has(deletePermission(kind));
  }

  /**
   * The grants of `kind` a bulk operation (bulk_revoke) acts on: the list's visibility and filters (where()), and,
   * for a caller without the delete permission, only their own grants. where() narrows to one's own grants only
   * callers without the view permission; a caller who may view every grant but delete none is narrowed here.
   */
  bulkPredicate(kind: GrantKind, principal: Principal, filters: FilterParams): Where {
    const where = this.where(kind, principal, filters);
    if (!this.canDeleteAny(kind, principal)) {
      const param = where.param(principal.userId);
      where.add(`g.user_id = ${param}`, `SELECT id FROM ${kind.table} WHERE user_id = ${param}`);
    }
    return where;
  }

  /** 400 for a `user`/`provider` value that is not an existing pk (both keys when both are bad). */
  async checkFilters(filters: FilterParams, manager: EntityManager = this.dataSource.manager): Promise<void> {
    if (filters.user === undefined && filters.provider === undefined) return this.rejectInvalid(filters);
    const [row] = await manager.query<FilterCheckRow[]>(`SELECT ${FILTER_CHECK_SQL(1)}`, [
      filters.user ?? null,
      filters.provider ?? null,
    ]);
    this.rejectInvalid(filters, row);
  }

  private rejectInvalid(filters: FilterParams, row?: FilterCheckRow): void {
    const invalid = [...filters.invalid];
    if (row && !row.user_ok) invalid.push('user');
    if (row && !row.provider_ok) invalid.push('provider');
    if (invalid.length > 0) {
      const order = ['user', 'provider'] as const;
      throw invalidChoice(order.filter((key) => invalid.includes(key)));
    }
  }

  private where(kind: GrantKind, principal: Principal, filters: FilterParams, search: string[] = []): Where {
    const where = new Where();
    const byUser = (id: number): void => {
      const param = where.param(id);
      where.add(`g.user_id = ${param}`, `SELECT id FROM ${kind.table} WHERE user_id = ${param}`);
    };
    if (!this.canViewAll(kind, principal)) byUser(principal.userId);
    if (filters.user !== undefined) byUser(filters.user);
    if (filters.provider !== undefined) {
      const param = where.param(filters.provider);
      where.add(
        `g.provider_id = ${param}`,
        `SELECT id FROM ${kind.table} WHERE provider_id = ${param}`,
        undefined,
        'provider',
      );
      where.providerTerms.push(`= ${param}`);
    }
    this.incidentConditions(kind, where, filters);
    for (const term of search) {
      const pattern = where.param(likePattern(term));
      // Every searched field belongs to a user, a provider or a provider's application, tables a thousand times
      // smaller than the grants. ARRAY(subquery) is evaluated once, before the scan (an InitPlan), so the grants are
      // found through the user and provider indexes instead of testing a join of every grant.
      const users = `ARRAY(SELECT u.id FROM users u
                       WHERE u.username ILIKE ${pattern} OR u.name ILIKE ${pattern} OR u.email ILIKE ${pattern})`;
      const providers = `ARRAY(SELECT p.id FROM oauth2_providers p LEFT JOIN applications a ON a.provider_id = p.id
                           WHERE p.name ILIKE ${pattern} OR p.client_id ILIKE ${pattern}
                              OR a.slug ILIKE ${pattern} OR a.name ILIKE ${pattern})`;
      where.add(
        `(g.user_id = ANY(${users}) OR g.provider_id = ANY(${providers}))`,
        `(SELECT id FROM ${kind.table} WHERE user_id = ANY(${users})
          UNION SELECT id FROM ${kind.table} WHERE provider_id = ANY(${providers}))`,
      );
    }
    return where;
  }

  /**
   * The incident filters (issue 14), each a parameterized condition and, where an index answers it, the ids it
   * selects (see Where). `application`, `client_id` and `username` name at most one provider or user (unique
   * columns); a name that matches none leaves `= NULL`, which selects nothing: an unknown name is an empty result,
   * not an error.
   */
  private incidentConditions(kind: GrantKind, where: Where, filters: FilterParams): void {
    const t = kind.table;
    if (filters.revoked !== undefined) {
      // Revoked grants are a few percent: a partial index (migration GrantFilters) lists them, the rest are not.
      if (filters.revoked) {
        where.add('g.revoked', `SELECT id FROM ${t} WHERE revoked`, { clause: 'c.revoked' });
      } else where.add('NOT g.revoked', undefined, { clause: 'NOT c.revoked' });
    }
    if (filters.isExpired !== undefined) {
      // As the list's is_expired field computes it: a grant that does not expire (expiring = false) never is.
      // `expiring AND expires < now()` written so that the (expires, id) index answers it alone: the few grants that
      // do not expire yet carry a past expiry are listed first (a partial index on NOT expiring) and excluded by id.
      const neverExpire = `ARRAY(SELECT id FROM ${t} WHERE NOT expiring AND expires < now())`;
      if (filters.isExpired) {
        where.add(
          `g.expires < now() AND g.id <> ALL (${neverExpire})`,
          `SELECT id FROM ${t} WHERE expires < now() AND id <> ALL (${neverExpire})`,
          { clause: 'c.expiring AND c.bucket < now()', boundary: 'now()' },
        );
      } else {
        where.add('NOT COALESCE(g.expiring AND g.expires < now(), false)', undefined, {
          clause: 'NOT COALESCE(c.expiring AND c.bucket < now(), false)',
          boundary: 'now()',
        });
      }
    }
    if (filters.expiresLt !== undefined) {
      const param = where.param(filters.expiresLt.toISOString());
      where.add(
        `g.expires < ${param}::timestamptz`,
        `SELECT id FROM ${t} WHERE expires < ${param}::timestamptz`,
        { clause: `c.bucket < ${param}::timestamptz`, boundary: `${param}::timestamptz` },
        'expiry bound',
      );
    }
    if (filters.expiresGte !== undefined) {
      const param = where.param(filters.expiresGte.toISOString());
      where.add(
        `g.expires >= ${param}::timestamptz`,
        `SELECT id FROM ${t} WHERE expires >= ${param}::timestamptz`,
        { clause: `c.bucket >= ${param}::timestamptz`, boundary: `${param}::timestamptz` },
        'expiry bound',
      );
    }
    // No index on `created`: issuance writes every grant, and these bounds serve incident work (with a client, a
    // user or an expiry bound narrowing first through their indexes), not the hot path. So no id set either.
    if (filters.createdLt !== undefined) {
      where.add(`g.created < ${where.param(filters.createdLt.toISOString())}::timestamptz`);
    }
    if (filters.createdGte !== undefined) {
      where.add(`g.created >= ${where.param(filters.createdGte.toISOString())}::timestamptz`);
    }
    if (filters.validAt !== undefined) {
      // Usable at T: issued by T, not expired at T (as is_expired: a grant expiring at T still is valid at T, one
      // not expiring never expires), not revoked by T. revoked_at is kept by a trigger (migration GrantRevokedAt);
      // a revoked grant without one was revoked at an unknown time, and may have been valid. Incident work, like the
      // created bounds: no index of its own, narrowed first by the other filters' indexes. "Not expired at T" is
      // written as the OR of what the expiry and never-expiring indexes find (NOT COALESCE(expiring AND expires < T,
      // false), expiring being NOT NULL), so a recent T is a BitmapOr instead of a scan of every grant.
      const at = `${where.param(filters.validAt.toISOString())}::timestamptz`;
      where.add(
        `g.created <= ${at} AND (NOT g.expiring OR g.expires IS NULL OR g.expires >= ${at})
         AND (NOT g.revoked OR g.revoked_at IS NULL OR g.revoked_at > ${at})`,
      );
    }
    if (filters.scope !== undefined) {
      // The expression of the GIN index of migration GrantFilters, so containment is answered by it.
      const param = where.param(filters.scope);
      // The facets count grants per scope word: they answer a filter on one word, not on several together.
      const words = new Set(filters.scope);
      where.add(
        `string_to_array(g.scope, ' ') @> ${param}::text[]`,
        `SELECT id FROM ${t} WHERE string_to_array(scope, ' ') @> ${param}::text[]`,
        words.size === 1 ? { word: `(${param}::text[])[1]` } : undefined,
      );
    }
    const byProvider = (provider: string): void => {
      where.add(
        `g.provider_id = (${provider})`,
        `SELECT id FROM ${t} WHERE provider_id = (${provider})`,
        undefined,
        'provider',
      );
      where.providerTerms.push(`= (${provider})`);
    };
    if (filters.application !== undefined) {
      byProvider(`SELECT provider_id FROM applications WHERE slug = ${where.param(filters.application)}`);
    }
    if (filters.clientId !== undefined) {
      byProvider(`SELECT id FROM oauth2_providers WHERE client_id = ${where.param(filters.clientId)}`);
    }
    if (filters.username !== undefined) {
      const user = `SELECT id FROM users WHERE username = ${where.param(filters.username)}`;
      where.add(`g.user_id = (${user})`, `SELECT id FROM ${t} WHERE user_id = (${user})`);
    }
  }

  private columns(kind: GrantKind): string {
    return [
      'g.id',
      'g.provider_id',
      'g.user_id',
      `${isoSql('g.expires')} AS expires`,
      'COALESCE(g.expiring AND g.expires < now(), false) AS is_expired',
      'g.revoked',
      'g.scope',
      ...(kind.isToken ? ['g.id_token'] : []),
    ].join(', ');
  }

  /**
   * One page, in one statement after authentication for page 1, in two for other pages and searches: the head (the
   * filter check and the count), then the page with its users and providers, both in one read-only snapshot
   * (BEGIN and COMMIT are two more). Never a statement per row.
   *
   * - The count of the whole table, or of one provider's grants, is a sum of trigger-maintained deltas (see
   *   GrantCounts), not a scan; so is a count filtered by revocation, expiry and one scope word (see
   *   Where.facetCountSql). Other filtered counts use the user, provider and search indexes.
   * - The page is found by its ids alone ("deferred join"): ORDER BY ... OFFSET walks an index holding every
   *   ordering column and the pk, without touching the table, and only the page's rows are then read.
   * - Deep pages walk less: past the middle the scan runs from the end, and in the default ordering the per-provider
   *   counts skip whole providers (see pageWindow). Page 1 needs neither, so it does not wait for the count.
   */
  async list(kind: GrantKind, principal: Principal, params: ListParams): Promise<JsonBody> {
    this.rejectInvalid(params.filters);
    const where = this.where(kind, principal, params.filters, params.search);
    // The trigger-maintained counts know rows per provider and nothing else: of the incident filters, only those
    // naming a provider (application, client_id) leave them usable.
    const onlyProviders = !hasIncidentFilter({
      ...params.filters,
      application: undefined,
      clientId: undefined,
    });
    const wholeTable =
      this.canViewAll(kind, principal) &&
      params.filters.user === undefined &&
      params.search.length === 0 &&
      onlyProviders;
    // Every condition of a whole-table count is on the provider (where.providerTerms), so where's parameters are
    // exactly those the count refers to.
    const byProvider =
      wholeTable && where.providerTerms.length === 0 ? providerFirst(params.ordering) : undefined;
    // A search decides how to read its page from its count (see pageSql), so it always reads the count first.
    const firstPage = params.page === 1 && params.search.length === 0;

    /**
     * The head's select list; `checkParam` numbers its two filter parameters ($n user, $n+1 provider). The
     * per-provider counts are only needed to place a page after the first.
     */
    const headSql = (checkParam: number, withProviders: boolean): string => {
      const countSql = wholeTable
        ? `(SELECT coalesce(sum(delta), 0) FROM ${providerCountRows(kind.table)}
             ${where.providerTerms.length > 0 ? `WHERE ${where.providerTerms.map((term) => `provider_id ${term}`).join(' AND ')}` : ''})`
        : `(${where.facetCountSql(kind.table) ?? where.countSql(kind.table, params.search.length > 0)})`;
      const providersSql =
        byProvider && withProviders
          ? `, (SELECT json_agg(json_build_array(provider_id, rows)) FROM (
               SELECT provider_id, sum(delta) AS rows FROM ${providerCountRows(kind.table)}
                GROUP BY provider_id HAVING sum(delta) <> 0) c) AS providers`
          : '';
      const check = filtered ? FILTER_CHECK_SQL(checkParam) : 'true AS user_ok, true AS provider_ok';
      return `${check}, ${countSql}::bigint AS count ${providersSql}`;
    };
    // Without filters there is nothing to check (and nothing for the planner to plan).
    const filtered = params.filters.user !== undefined || params.filters.provider !== undefined;
    const filterParams = filtered ? [params.filters.user ?? null, params.filters.provider ?? null] : [];

    if (firstPage) {
      const page = this.pageSql(
        kind,
        where,
        params,
        { reverse: false, skip: 0, take: params.pageSize },
        false,
      );
      const head = headSql(where.params.length + 1, false);
      const text = this.relatedSql(page, head);
      const values = [...where.params, ...filterParams];
      // Without parameters (an unfiltered list of everything), the statement is the same on every request for one
      // ordering and page size: prepared, it is planned once per connection instead of every time. So is an expiry
      // range in the provider-first ordering, whose plan does not depend on the range (see pageSql): planning it
      // took 0.5-1.1 ms of the 1-1.6 ms its statement cost on the bench data set.
      const name =
        values.length === 0 || (where.byProviderRange && providerFirst(params.ordering))
          ? this.statementNames.nameFor(text)
          : undefined;
      const related = sortRelated(
        name
          ? await preparedQuery<RelatedRow>(this.dataSource, name, text, values)
          : await this.dataSource.query<RelatedRow[]>(text, values),
      );
      this.rejectInvalid(params.filters, related.head);
      const count = Number(related.head?.count ?? 0); // page 1 always exists (an empty list has one empty page)
      return paginatedBody(1, count, params.pageSize, await this.serialize(kind, related, params));
    }

    // The count places the page (from the start or the end, per provider), so the head and the page must see the
    // same rows: one REPEATABLE READ snapshot for both. Without it a delete committing between them shifts a page
    // read from the end onto rows of the previous page.
    const { page, count, related } = await this.inSnapshot(async (manager) => {
      // A whole-table count refers to all of `where`'s parameters (they are all on the provider), as others do.
      const countParams = where.params;
      const [head] = await manager.query<HeadRow[]>(`SELECT ${headSql(countParams.length + 1, true)}`, [
        ...countParams,
        ...filterParams,
      ]);
      this.rejectInvalid(params.filters, head);
      const count = Number(head?.count ?? 0);
      const page = resolvePage(params.page, count, params.pageSize);
      if (count === 0) return { page, count, related: undefined };

      const window = pageWindow({
        count,
        offset: (page - 1) * params.pageSize,
        limit: params.pageSize,
        providers:
          byProvider && head?.providers
            ? {
                counts: head.providers.map(([id, rows]) => [id, Number(rows)]),
                ascending: byProvider.ascending,
              }
            : undefined,
      });
      const pageText = this.pageSql(
        kind,
        where,
        params,
        window,
        params.search.length > 0 && count <= MATERIALIZE_MATCHES_UP_TO,
      );
      const related = sortRelated(await manager.query<RelatedRow[]>(this.relatedSql(pageText), where.params));
      return { page, count, related };
    });
    return paginatedBody(page, count, params.pageSize, await this.serialize(kind, related, params));
  }

  /** Runs `work` on one connection in a read-only REPEATABLE READ transaction: every statement sees one snapshot. */
  private async inSnapshot<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const result = await work(runner.manager);
      await runner.query('COMMIT');
      return result;
    } catch (error) {
      await runner.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  /**
   * The page's rows, in the requested order (`ord`), read through `window`. Adds the window's parameters to `where`.
   *
   * A narrow search (`materialize`) matches few rows scattered over the ordering index; left to itself the planner
   * may walk that index hoping to meet 20 matches soon, and read most of it. Materializing the matches first makes it
   * find them by the user and provider indexes and sort only those. A broad search (known from the count) is the
   * opposite case: walking the ordering index meets matches at once, so it is left to the planner.
   */
  private pageSql(
    kind: GrantKind,
    where: Where,
    params: Pick<ListParams, 'ordering'>,
    window: PageWindow,
    materialize: boolean,
  ): string {
    if (window.fromProvider) {
      const { id, ascending } = window.fromProvider;
      where.add(`g.provider_id ${ascending ? '>=' : '<='} ${where.param(id)}`);
    }
    const scanOrder = window.reverse
      ? params.ordering.map((term) => ({ ...term, descending: !term.descending }))
      : params.ordering;
    // Literals, not parameters: they are integers we computed, and a statement without parameters can be prepared
    // with a plan as good as a custom one (see list).
    const limit = integerLiteral(window.take);
    const offset = integerLiteral(window.skip);
    const byProvider = providerFirst(scanOrder);
    if (where.byProviderRange && byProvider && !materialize) {
      // An expiry range in the provider-first ordering: for each provider, in order, the index's entries from the
      // range's start, at most as many as the page can need, and an incremental sort that stops at the page's end.
      // Left to the planner, `expires < T ORDER BY provider_id, expires, id` walks that index filtering on the
      // expiry, which reads the whole index when few grants precede T (measured on the bench data set, 1,000,000
      // access tokens over 100 providers, with a T before every expiry: 7,082 buffers and 31-38 ms by a generic
      // plan; this form, 100 index probes and under 2 ms). The plan no longer depends on T, so list() prepares it.
      const direction = byProvider.ascending ? 'ASC' : 'DESC';
      const perProvider = integerLiteral(window.skip + window.take);
      return `SELECT ${this.columns(kind)}, row_number() OVER (ORDER BY ${orderBySql(params.ordering)}) AS ord
        FROM ${kind.table} g
        JOIN (SELECT g.id FROM oauth2_providers p CROSS JOIN LATERAL (
                SELECT g.id, g.expires FROM ${kind.table} g ${where.toString()} AND g.provider_id = p.id
                 ORDER BY g.expires ${direction}, g.id ${direction} LIMIT ${perProvider}) g
               ORDER BY p.id ${direction}, g.expires ${direction}, g.id ${direction}
               LIMIT ${limit} OFFSET ${offset}) page ON page.id = g.id`;
    }
    const matched = materialize
      ? `WITH matched AS MATERIALIZED (
           SELECT g.id, g.provider_id, g.user_id, g.expires, g.revoked FROM ${kind.table} g ${where.toString()})`
      : '';
    const source = matched ? 'matched g' : `${kind.table} g ${where.toString()}`;
    return `${matched}
      SELECT ${this.columns(kind)}, row_number() OVER (ORDER BY ${orderBySql(params.ordering)}) AS ord
        FROM ${kind.table} g
        JOIN (SELECT g.id FROM ${source}
               ORDER BY ${orderBySql(scanOrder)} LIMIT ${limit} OFFSET ${offset}) page ON page.id = g.id`;
  }

  /**
   * The grants `pageSql` selects, the users' and providers' stored documents (migration Documents) they reference,
   * and optionally `head` (select-list items, as one more row first): one round trip instead of three.
   *
   * A row per document, each a small JSON value, rather than one JSON array (or one text) of each: a value of a
   * few hundred KB is a large object for V8 (over 128 KB), and those were promoted to the old generation on nearly
   * every request (measured with --trace-gc-nvp on pages of 100: about 300 KB promoted per request as one text,
   * about 50 KB in all as rows).
   */
  private relatedSql(pageSql: string, head?: string): string {
    return `WITH page AS MATERIALIZED (${pageSql})
      ${head ? `SELECT 0 AS kind, row_to_json(head) AS doc FROM (SELECT ${head}) head UNION ALL` : ''}
      SELECT 1 AS kind, row_to_json(page) AS doc FROM page
      UNION ALL
      SELECT 2, doc FROM user_documents WHERE user_id = ANY(ARRAY(SELECT user_id FROM page))
      UNION ALL
      SELECT 3, doc FROM provider_documents WHERE provider_id = ANY(ARRAY(SELECT provider_id FROM page))`;
  }

  /** The row if the principal may see it (and it passes the filters), else 404 "No <Model> matches...". */
  async retrieve(
    kind: GrantKind,
    principal: Principal,
    id: number,
    params: Pick<ListParams, 'filters' | 'includeGroups' | 'includeRoles'>,
  ): Promise<JsonBody> {
    await this.checkFilters(params.filters);
    const where = this.where(kind, principal, params.filters);
    where.add(`g.id = ${where.param(id)}`);
    const page = `SELECT ${this.columns(kind)}, 1 AS ord FROM ${kind.table} g ${where.toString()}`;
    const related = sortRelated(
      await this.dataSource.query<RelatedRow[]>(this.relatedSql(page), where.params),
    );
    const [grant] = await this.serialize(kind, related, params);
    if (grant === undefined) throw this.noMatch(kind);
    return new JsonBody([grant]);
  }

  /** used_by: nothing in Grantry's schema references a grant, so a visible grant is used by nothing. */
  async usedBy(kind: GrantKind, principal: Principal, id: number, filters: FilterParams): Promise<[]> {
    await this.checkFilters(filters);
    const where = this.where(kind, principal, filters);
    where.add(`g.id = ${where.param(id)}`);
    const rows = await this.dataSource.query<unknown[]>(
      `SELECT 1 FROM ${kind.table} g ${where.toString()}`,
      where.params,
    );
    if (rows.length === 0) throw this.noMatch(kind);
    return [];
  }

  /**
   * Deletes a visible grant the principal owns or may delete, recording an audit event in the same transaction. The
   * row is locked first, so of concurrent deletes exactly one succeeds and the others find nothing (404).
   */
  async delete(
    kind: GrantKind,
    principal: Principal,
    id: number,
    filters: FilterParams,
    requestId: string | undefined,
  ): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      await this.checkFilters(filters, manager);
      const where = this.where(kind, principal, filters);
      where.add(`g.id = ${where.param(id)}`);
      const rows = await manager.query<
        { id: number; user_id: number; provider_id: number; hash_prefix: string }[]
      >(
        `SELECT g.id, g.user_id, g.provider_id, left(encode(g.${kind.hashColumn}, 'hex'), 8) AS hash_prefix
           FROM ${kind.table} g ${where.toString()} FOR UPDATE`,
        where.params,
      );
      const row = rows[0];
      if (!row) throw this.noMatch(kind);
      if (row.user_id !== principal.userId && !this.canDeleteAny(kind, principal)) {
        throw new ApiError(HttpStatus.FORBIDDEN, DETAIL.permissionDenied);
      }
      await manager.query(`DELETE FROM ${kind.table} WHERE id = $1`, [id]);
      await manager.query(
        `INSERT INTO audit_events (action, actor_user_id, actor_username, model, object_pk, object_user_id,
                                   object_provider_id, secret_hash_prefix, request_id)
         VALUES ('grant_deleted', $1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          principal.userId,
          principal.username,
          kind.modelName,
          row.id,
          row.user_id,
          row.provider_id,
          row.hash_prefix,
          requestId ?? null,
        ],
      );
    });
  }

  /**
   * The grants of `kind` the principal may see that pass the filters and search: the list's own predicate (where()),
   * for readers other than the list (the export) that must apply exactly what the list applies.
   */
  visiblePredicate(kind: GrantKind, principal: Principal, filters: FilterParams, search: string[]): Where {
    return this.where(kind, principal, filters, search);
  }

  noMatch(kind: GrantKind): ApiError {
    return new ApiError(HttpStatus.NOT_FOUND, `No ${kind.modelName} matches the given query.`);
  }

  private getInstallId(): Promise<string> {
    this.installId ??= this.dataSource
      .query<{ install_id: string }[]>('SELECT install_id FROM install WHERE id = 1')
      .then((rows) => {
        const installId = rows[0]?.install_id;
        if (!installId) throw new Error('install row missing: migrations not applied');
        return installId;
      })
      .catch((error: unknown) => {
        this.installId = undefined;
        throw error;
      });
    return this.installId;
  }

  /**
   * The page's grants as JSON text, one string each: authentik's ExpiringBaseGrantModel (`pk`, `provider`, `user`,
   * `is_expired`, `expires`, `scope`), plus `id_token` and `revoked` for TokenModel, in that key order. Each user and
   * provider is serialized once per page and its text shared by every grant that references it.
   */
  private async serialize(
    kind: GrantKind,
    related: Related | undefined,
    params: Pick<ListParams, 'includeGroups' | 'includeRoles'>,
  ): Promise<string[]> {
    if (!related || related.grants.length === 0) return [];
    const context = {
      installId: await this.getInstallId(),
      avatars: this.avatars,
      includeGroups: params.includeGroups,
      includeRoles: params.includeRoles,
    };
    const userJson = new Map<number, string>();
    const providerJson = new Map<number, string>();
    return related.grants.map((row) => {
      let user = userJson.get(row.user_id);
      let provider = providerJson.get(row.provider_id);
      if (user === undefined) {
        const doc = related.users.get(row.user_id);
        // Foreign keys guarantee both exist, and the page and its documents are read by one statement.
        if (!doc) throw new Error(`grant ${row.id} lost its user while being read`);
        user = JSON.stringify(toUserDto(doc, context));
        userJson.set(row.user_id, user);
      }
      if (provider === undefined) {
        const doc = related.providers.get(row.provider_id);
        if (!doc) throw new Error(`grant ${row.id} lost its provider while being read`);
        provider = JSON.stringify(toProviderDto(doc));
        providerJson.set(row.provider_id, provider);
      }
      const base =
        `{"pk":${row.id},"provider":${provider},"user":${user},"is_expired":${row.is_expired},` +
        `"expires":${JSON.stringify(isoFromSql(row.expires))},` +
        `"scope":${JSON.stringify(row.scope.split(' ').filter(Boolean))}`;
      return kind.isToken
        ? `${base},"id_token":${JSON.stringify(formatIdToken(row.id_token))},"revoked":${row.revoked}}`
        : `${base}}`;
    });
  }
}

export { likePattern } from '../../common/list-query/query-params';
