/** What the bench measures: the scenarios, with their parameters taken from the seeded data. */
import type { Credentials } from './database';
import { query } from './database';

export type KindPath = 'access_tokens' | 'refresh_tokens' | 'authorization_codes';

export interface Kind {
  path: KindPath;
  table: string;
  label: string;
}

export const KINDS: Kind[] = [
  { path: 'access_tokens', table: 'oauth2_access_tokens', label: 'access' },
  { path: 'refresh_tokens', table: 'oauth2_refresh_tokens', label: 'refresh' },
  { path: 'authorization_codes', table: 'oauth2_authorization_codes', label: 'codes' },
];

/** What the report needs of a scenario (reads, issuance, mixed). */
export interface ScenarioInfo {
  name: string;
  /** Request paths, cycled through under load; the first one is the one compared. */
  paths: string[];
  /** Minimum Grantry/baseline requests-per-second ratio. */
  target: number;
  /** False: compared and its queries counted, but not put under load. */
  load: boolean;
  note?: string;
}

export interface Scenario extends ScenarioInfo {
  /** The grant table of a token API scenario; absent for the management API's. */
  kind?: Kind;
  as: 'admin' | 'owner';
}

/** Facts about one grant table that the scenarios are built from. */
export interface KindData {
  kind: Kind;
  rows: number;
  topUser: { id: number; rows: number };
  topProvider: { id: number; rows: number };
  search: { term: string; userId: number; rows: number; target: number };
  deepPage: number;
  ids: number[];
  ownerIds: number[];
  ownerRows: number;
}

const API = '/api/v3/oauth2';
const PAGE_SIZE = 20;
const DEEP_PAGE = 20_000;

/** A term matching about 0.1 % of the rows: the e-mail address (up to the @) of the user owning closest to that. */
async function searchTerm(url: string, kind: Kind, rows: number): Promise<KindData['search']> {
  const target = Math.max(1, Math.round(rows * 0.001));
  const [row] = await query<{ user_id: number; email: string; n: string }>(
    url,
    `SELECT g.user_id, u.email, count(*)::text AS n
       FROM ${kind.table} g JOIN users u ON u.id = g.user_id
      WHERE u.email LIKE '%@%' AND u.username LIKE 'seed-%'
      GROUP BY g.user_id, u.email
      ORDER BY abs(count(*) - $1), g.user_id LIMIT 1`,
    [target],
  );
  if (!row) return { term: 'nothing-matches-this', userId: 0, rows: 0, target };
  return {
    term: row.email.slice(0, row.email.indexOf('@') + 1),
    userId: row.user_id,
    rows: Number(row.n),
    target,
  };
}

async function top(url: string, table: string, column: string): Promise<{ id: number; rows: number }> {
  const [row] = await query<{ id: number; n: string }>(
    url,
    `SELECT ${column} AS id, count(*)::text AS n FROM ${table} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`,
  );
  return { id: row?.id ?? 0, rows: Number(row?.n ?? 0) };
}

async function sampleIds(url: string, table: string, where: string, params: unknown[]): Promise<number[]> {
  const rows = await query<{ id: number }>(
    url,
    `SELECT id FROM ${table} ${where} ORDER BY hashint4(id), id LIMIT 1000`,
    params,
  );
  return rows.map((row) => row.id);
}

export async function kindData(url: string, kind: Kind, credentials: Credentials): Promise<KindData> {
  const [count] = await query<{ n: string }>(url, `SELECT count(*)::text AS n FROM ${kind.table}`);
  const rows = Number(count?.n ?? 0);
  const pages = Math.max(1, Math.ceil(rows / PAGE_SIZE));
  const ownerId = credentials.owner.userId;
  const [owned] = await query<{ n: string }>(
    url,
    `SELECT count(*)::text AS n FROM ${kind.table} WHERE user_id = $1`,
    [ownerId],
  );
  return {
    kind,
    rows,
    topUser: await top(url, kind.table, 'user_id'),
    topProvider: await top(url, kind.table, 'provider_id'),
    search: await searchTerm(url, kind, rows),
    // Page 20,000 of 20 is 40 % deep into 1M rows; a smaller table gets the page halfway through instead.
    deepPage: Math.max(1, Math.min(DEEP_PAGE, Math.floor(pages / 2))),
    ids: await sampleIds(url, kind.table, '', []),
    ownerIds: await sampleIds(url, kind.table, 'WHERE user_id = $1', [ownerId]),
    ownerRows: Number(owned?.n ?? 0),
  };
}

/** What the incident-filter scenarios (issue 14) filter by, taken from the seeded access tokens. */
export interface FilterData {
  rows: number;
  revoked: number;
  expired: number;
  /** An instant with about 2 % of the expiries before it, and how many are. */
  expiresLt: { at: string; rows: number };
  scope: { value: string; rows: number };
  username: { value: string; rows: number };
  /** The application of the provider with the most rows (absent when that provider has none). */
  application: { slug: string; rows: number } | undefined;
  clientId: { value: string; rows: number };
}

/** The scope of the incident-filter scenario: granted with the API scope, about 10 % of the seeded access tokens. */
const FILTER_SCOPE = 'goauthentik.io/api';

export async function filterData(url: string, kind: Kind, data: KindData): Promise<FilterData> {
  const t = kind.table;
  const [counts] = await query<{ revoked: string; expired: string; scope: string }>(
    url,
    `SELECT (SELECT count(*) FROM ${t} WHERE revoked)::text AS revoked,
            (SELECT count(*) FROM ${t} WHERE expiring AND expires < now())::text AS expired,
            (SELECT count(*) FROM ${t} WHERE string_to_array(scope, ' ') @> ARRAY[$1])::text AS scope`,
    [FILTER_SCOPE],
  );
  const offset = Math.max(0, Math.round(data.rows * 0.02));
  const [quantile] = await query<{ at: string }>(
    url,
    `SELECT to_char(expires AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at FROM ${t}
      WHERE expires IS NOT NULL ORDER BY expires OFFSET $1 LIMIT 1`,
    [offset],
  );
  const at = quantile?.at ?? '2000-01-01T00:00:00Z';
  const [before] = await query<{ n: string }>(
    url,
    `SELECT count(*)::text AS n FROM ${t} WHERE expires < $1`,
    [at],
  );
  const [user] = await query<{ username: string }>(url, 'SELECT username FROM users WHERE id = $1', [
    data.topUser.id,
  ]);
  const [provider] = await query<{ client_id: string; slug: string | null }>(
    url,
    `SELECT p.client_id, a.slug FROM oauth2_providers p LEFT JOIN applications a ON a.provider_id = p.id
      WHERE p.id = $1`,
    [data.topProvider.id],
  );
  return {
    rows: data.rows,
    revoked: Number(counts?.revoked ?? 0),
    expired: Number(counts?.expired ?? 0),
    expiresLt: { at, rows: Number(before?.n ?? 0) },
    scope: { value: FILTER_SCOPE, rows: Number(counts?.scope ?? 0) },
    username: { value: user?.username ?? 'nobody', rows: data.topUser.rows },
    application: provider?.slug ? { slug: provider.slug, rows: data.topProvider.rows } : undefined,
    clientId: { value: provider?.client_id ?? 'nothing', rows: data.topProvider.rows },
  };
}

/** Issue 14: each incident filter at least 3x the straightforward SQL's throughput. */
export const FILTER_TARGET = 3;

export function buildFilterScenarios(kind: Kind, d: FilterData): Scenario[] {
  const base = `${API}/${kind.path}/`;
  const share = (n: number): string =>
    `${n} of ${d.rows} rows (${((100 * n) / Math.max(1, d.rows)).toFixed(2)} %)`;
  const add = (what: string, query: string, note: string): Scenario => ({
    kind,
    name: `${kind.label}: filter ${what}`,
    paths: [`${base}?${query}`],
    target: FILTER_TARGET,
    load: true,
    as: 'admin',
    note,
  });
  const scenarios = [
    add('revoked=true', 'revoked=true', share(d.revoked)),
    add('is_expired=true', 'is_expired=true', share(d.expired)),
    add(
      `expires__lt=${d.expiresLt.at}`,
      `expires__lt=${encodeURIComponent(d.expiresLt.at)}`,
      `${share(d.expiresLt.rows)}; about 2 % of the expiries`,
    ),
    add(`scope=${d.scope.value}`, `scope=${encodeURIComponent(d.scope.value)}`, share(d.scope.rows)),
    add(
      `username=${d.username.value}`,
      `username=${encodeURIComponent(d.username.value)}`,
      `the user with the most rows: ${share(d.username.rows)}`,
    ),
    add(
      `client_id=${d.clientId.value.slice(0, 8)}…`,
      `client_id=${encodeURIComponent(d.clientId.value)}`,
      `the provider with the most rows: ${share(d.clientId.rows)}`,
    ),
    add(
      `revoked=false&scope=${d.scope.value}&ordering=-expires`,
      `revoked=false&scope=${encodeURIComponent(d.scope.value)}&ordering=-expires`,
      'combined with each other and an ordering',
    ),
  ];
  if (d.application) {
    scenarios.push(
      add(
        `application=${d.application.slug}`,
        `application=${encodeURIComponent(d.application.slug)}`,
        `the application of the provider with the most rows: ${share(d.application.rows)}`,
      ),
    );
  }
  return scenarios;
}

export const TARGETS = {
  headline: 10,
  deep: 3,
  search: 10,
  other: 1,
};

export function buildScenarios(data: KindData[]): Scenario[] {
  const scenarios: Scenario[] = [];
  for (const d of data) {
    const base = `${API}/${d.kind.path}/`;
    const name = (what: string): string => `${d.kind.label}: ${what}`;
    const add = (scenario: Omit<Scenario, 'kind' | 'as' | 'load'> & Partial<Scenario>): void => {
      scenarios.push({ kind: d.kind, as: 'admin', load: true, ...scenario });
    };
    add({ name: name('list page 1'), paths: [base], target: TARGETS.headline });
    if (d.kind.path === 'access_tokens') {
      add({
        name: name('list page_size=1'),
        paths: [`${base}?page_size=1`],
        target: TARGETS.other,
        load: false,
      });
    }
    add({ name: name('list page_size=100'), paths: [`${base}?page_size=100`], target: TARGETS.other });
    add({
      name: name(`list ?user=${d.topUser.id}`),
      paths: [`${base}?user=${d.topUser.id}`],
      target: TARGETS.other,
      note: `the user with the most rows (${d.topUser.rows})`,
    });
    add({
      name: name(`list ?provider=${d.topProvider.id}&ordering=-expires`),
      paths: [`${base}?provider=${d.topProvider.id}&ordering=-expires`],
      target: TARGETS.other,
      note: `the provider with the most rows (${d.topProvider.rows})`,
    });
    add({
      name: name('list ordering=-expires'),
      paths: [`${base}?ordering=-expires`],
      target: TARGETS.headline,
    });
    add({
      name: name(`list page=${d.deepPage}`),
      paths: [`${base}?page=${d.deepPage}`],
      target: TARGETS.deep,
      note:
        d.deepPage === DEEP_PAGE
          ? `offset ${(d.deepPage - 1) * PAGE_SIZE} of ${d.rows}`
          : `page ${DEEP_PAGE} is past the end of ${d.rows} rows; page ${d.deepPage} is halfway (offset ${(d.deepPage - 1) * PAGE_SIZE})`,
    });
    add({
      name: name(`search "${d.search.term}"`),
      paths: [`${base}?search=${encodeURIComponent(d.search.term)}`],
      target: TARGETS.search,
      note: `matches ${d.search.rows} of ${d.rows} rows (${((100 * d.search.rows) / Math.max(1, d.rows)).toFixed(2)} %; aim ${d.search.target})`,
    });
    add({
      name: name('retrieve'),
      paths: d.ids.map((id) => `${base}${id}/`),
      target: TARGETS.other,
      note: `${d.ids.length} ids in turn`,
    });
    add({
      name: name('owner list page 1'),
      as: 'owner',
      paths: [base],
      target: TARGETS.other,
      note: `non-superuser owning ${d.ownerRows} rows`,
    });
    add({
      name: name('owner retrieve'),
      as: 'owner',
      paths: d.ownerIds.map((id) => `${base}${id}/`),
      target: TARGETS.other,
      note: `${d.ownerIds.length} of the owner's ids in turn`,
    });
  }
  return scenarios;
}

// ---------------------------------------------------------------------------------------------------------------
// The management API (issue 13): users at 100,000 and events at 1,000,000

/** Facts about users and audit_events that the management scenarios are built from. */
export interface ManagementData {
  users: number;
  /** A seeded user's handle (`first.last`) in username and e-mail, matching about 0.1 % of the users. */
  search: { term: string; rows: number; target: number };
  inactive: number;
  /** A small group (direct members only, as the filter matches) and how many users are in it. */
  group: { name: string; rows: number };
  events: number;
  modelDeleted: number;
  /** The seeded user acting in the most live events. */
  actor: { username: string; rows: number };
}

export async function managementData(url: string): Promise<ManagementData> {
  const [counts] = await query<{ users: string; inactive: string; events: string; deleted: string }>(
    url,
    `SELECT (SELECT count(*) FROM users)::text AS users,
            (SELECT count(*) FROM users WHERE NOT is_active)::text AS inactive,
            (SELECT count(*) FROM audit_events WHERE expires > now())::text AS events,
            (SELECT count(*) FROM audit_events
              WHERE expires > now() AND grantry_event_action(action) = 'model_deleted')::text AS deleted`,
  );
  const users = Number(counts?.users ?? 0);
  const target = Math.max(1, Math.round(users * 0.001));
  const [handle] = await query<{ term: string; n: string }>(
    url,
    `SELECT h AS term, count(*)::text AS n
       FROM (SELECT substring(username FROM '^seed-[0-9]+-([a-z]+\\.[a-z-]+)-[0-9]+$') AS h FROM users) x
      WHERE h IS NOT NULL GROUP BY h ORDER BY abs(count(*) - $1), h LIMIT 1`,
    [target],
  );
  const [group] = await query<{ name: string; n: string }>(
    url,
    `SELECT g.name, count(*)::text AS n FROM groups g JOIN user_groups ug ON ug.group_id = g.id
      WHERE g.name LIKE 'seed-%' GROUP BY g.name ORDER BY abs(count(*) - $1), g.name LIMIT 1`,
    [Math.round(users * 0.01)],
  );
  const [actor] = await query<{ username: string; n: string }>(
    url,
    `SELECT actor_username AS username, count(*)::text AS n FROM audit_events
      WHERE expires > now() AND actor_username LIKE 'seed-%'
      GROUP BY actor_username ORDER BY count(*) DESC, actor_username LIMIT 1`,
  );
  return {
    users,
    search: { term: handle?.term ?? 'nothing-matches-this', rows: Number(handle?.n ?? 0), target },
    inactive: Number(counts?.inactive ?? 0),
    group: { name: group?.name ?? 'nothing', rows: Number(group?.n ?? 0) },
    events: Number(counts?.events ?? 0),
    modelDeleted: Number(counts?.deleted ?? 0),
    actor: { username: actor?.username ?? 'nobody', rows: Number(actor?.n ?? 0) },
  };
}

/** Issue 13: each at least 3x the straightforward SQL's throughput. */
export const MANAGEMENT_TARGET = 3;

export function buildManagementScenarios(d: ManagementData): Scenario[] {
  const users = '/api/v3/core/users/';
  const events = '/api/v3/events/events/';
  const share = (n: number, of: number): string => `${((100 * n) / Math.max(1, of)).toFixed(2)} %`;
  const add = (name: string, path: string, note: string): Scenario => ({
    name,
    paths: [path],
    target: MANAGEMENT_TARGET,
    load: true,
    as: 'admin',
    note,
  });
  return [
    add('users: list page 1', users, `${d.users} users`),
    add(
      `users: search "${d.search.term}"`,
      `${users}?search=${encodeURIComponent(d.search.term)}`,
      `${d.search.rows} users carry the handle (${share(d.search.rows, d.users)}; aim ${d.search.target})`,
    ),
    add(
      'users: filter is_active=false',
      `${users}?is_active=false`,
      `not selective: ${d.inactive} users (${share(d.inactive, d.users)})`,
    ),
    add(
      `users: filter groups_by_name=${d.group.name}`,
      `${users}?groups_by_name=${encodeURIComponent(d.group.name)}`,
      `selective: ${d.group.rows} direct members (${share(d.group.rows, d.users)})`,
    ),
    add('events: list page 1', events, `${d.events} live events (default ordering -created)`),
    add(
      'events: filter actions=model_deleted',
      `${events}?actions=model_deleted`,
      `${d.modelDeleted} live events (${share(d.modelDeleted, d.events)}; incl. the legacy grant_deleted and token_revoked)`,
    ),
    add(
      `events: filter username=${d.actor.username}`,
      `${events}?username=${encodeURIComponent(d.actor.username)}`,
      `the seeded user with the most events: ${d.actor.rows} (${share(d.actor.rows, d.events)})`,
    ),
  ];
}
