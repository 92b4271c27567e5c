import { createHash } from 'node:crypto';
import type { EntityManager, QueryRunner } from 'typeorm';
import { ApplicationEntity } from '../../providers/application.entity';
import { InstallEntity } from '../../identity/install.entity';
import type { UserType } from '../../identity/user.entity';
import { DEFAULT_ACR } from '../../common/serializers/id-token';
import { issuerFor } from '../../oauth2/common/grants';
import { foldGrantCounts } from '../../oauth2/grants/grant-counts';
import {
  ACCESS_TOKENS,
  AUTHORIZATION_CODES,
  type GrantKind,
  REFRESH_TOKENS,
} from '../../oauth2/grants/grant-kind';
import {
  type ClientType,
  type IssuerMode,
  OAuth2ProviderEntity,
  type SubMode,
} from '../../providers/oauth2-provider.entity';
import type { Sealer } from '../../keys/sealing';
import { createApplication, createProvider } from '../../providers/providers';
import { parseTimedelta } from '../../providers/timedelta';
import { ArgumentError, type CommandContext, defineCommand, parseInteger } from '../args';

/**
 * `seed`: a realistic, reproducible data set. Everything is derived from the seed number K: small things (users,
 * groups, roles, providers) from a PRNG in this process, grants by PostgreSQL itself from `generate_series` and
 * hashes of their index, which is what makes a million rows take seconds rather than minutes.
 *
 * Re-running is safe: every name starts with `seed-K-`, every grant's hash derives from K and its index, and rows
 * that already exist are skipped, so a second run adds only what is missing (more users, more tokens) and an
 * interrupted run can simply be repeated.
 */

// ---------------------------------------------------------------------------------------------------------------
// Deterministic randomness

type Random = () => number;

/** sfc32, seeded from a hash of its stream name: the same name always gives the same sequence. */
function random(...stream: (string | number)[]): Random {
  const seed = createHash('sha256')
    .update(`grantry-seed:${stream.join(':')}`)
    .digest();
  let a = seed.readUInt32LE(0);
  let b = seed.readUInt32LE(4);
  let c = seed.readUInt32LE(8);
  let d = seed.readUInt32LE(12);
  return () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

function pick<T>(rand: Random, items: readonly T[]): T {
  const item = items[Math.floor(rand() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function uuid(rand: Random): string {
  const bytes = Buffer.alloc(16);
  for (let i = 0; i < 16; i += 1) bytes[i] = Math.floor(rand() * 256);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function alphanumeric(rand: Random, length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < length; i += 1) out += alphabet[Math.floor(rand() * alphabet.length)] ?? 'a';
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The shape of the data set

/** [display, ascii for usernames and addresses] */
const FIRST_NAMES: readonly (readonly [string, string])[] = [
  ['Ada', 'ada'],
  ['Alan', 'alan'],
  ['Grace', 'grace'],
  ['Linus', 'linus'],
  ['Margaret', 'margaret'],
  ['Ken', 'ken'],
  ['Barbara', 'barbara'],
  ['Dennis', 'dennis'],
  ['Radia', 'radia'],
  ['Tim', 'tim'],
  ['Zoë', 'zoe'],
  ['José', 'jose'],
  ['Łukasz', 'lukasz'],
  ['Søren', 'soren'],
  ['Chloé', 'chloe'],
  ['Björn', 'bjorn'],
  ['Aiko', 'aiko'],
  ['Priya', 'priya'],
  ['Mateo', 'mateo'],
  ['Fatima', 'fatima'],
  ['Olumide', 'olumide'],
  ['Mei', 'mei'],
  ['Ingrid', 'ingrid'],
  ['Rafael', 'rafael'],
  ['Anouk', 'anouk'],
  ['Dmitri', 'dmitri'],
  ['Leila', 'leila'],
  ['Kwame', 'kwame'],
  ['Saoirse', 'saoirse'],
  ['Yusuf', 'yusuf'],
];
const LAST_NAMES: readonly (readonly [string, string])[] = [
  ['Lovelace', 'lovelace'],
  ['Turing', 'turing'],
  ['Hopper', 'hopper'],
  ['Torvalds', 'torvalds'],
  ['Hamilton', 'hamilton'],
  ['Thompson', 'thompson'],
  ['Liskov', 'liskov'],
  ['Ritchie', 'ritchie'],
  ['Perlman', 'perlman'],
  ['Berners-Lee', 'berners-lee'],
  ['Müller', 'mueller'],
  ['García', 'garcia'],
  ['Nguyễn', 'nguyen'],
  ["O'Brien", 'obrien'],
  ['Kowalski', 'kowalski'],
  ['Johansson', 'johansson'],
  ['Tanaka', 'tanaka'],
  ['Patel', 'patel'],
  ['Rossi', 'rossi'],
  ['Haddad', 'haddad'],
  ['Okafor', 'okafor'],
  ['Chen', 'chen'],
  ['Larsen', 'larsen'],
  ['Silva', 'silva'],
  ['de Vries', 'devries'],
  ['Ivanov', 'ivanov'],
];
const DOMAINS = ['example.com', 'example.com', 'example.org', 'corp.example', 'mail.example.net'];
const SERVICES = [
  'backup',
  'ci-runner',
  'monitoring',
  'grafana-sync',
  'ldap-outpost',
  'proxy-outpost',
  'terraform',
  'billing-export',
  'mail-relay',
  'scim-sync',
];
const USER_TYPES: readonly UserType[] = [
  ...Array<UserType>(80).fill('internal'),
  ...Array<UserType>(10).fill('external'),
  ...Array<UserType>(6).fill('service_account'),
  ...Array<UserType>(4).fill('internal_service_account'),
];

/** [name, superuser, parent]; parents come before their children. */
const GROUPS: readonly (readonly [string, boolean, string | null])[] = [
  ['admins', true, null],
  ['security', false, 'admins'],
  ['engineering', false, null],
  ['platform', false, 'engineering'],
  ['sre', false, 'platform'],
  ['backend', false, 'engineering'],
  ['frontend', false, 'engineering'],
  ['support', false, null],
  ['support-tier2', false, 'support'],
  ['finance', false, null],
  ['auditors', false, null],
  ['contractors', false, null],
  ['service-accounts', false, null],
];
const STAFF_GROUPS = [
  'engineering',
  'platform',
  'sre',
  'backend',
  'frontend',
  'support',
  'support-tier2',
  'finance',
];

const MODEL_PERMISSIONS = (actions: string[], models: string[]): string[] =>
  actions.flatMap((action) => models.map((model) => `authentik_providers_oauth2.${action}_${model}`));
const ALL_MODELS = ['accesstoken', 'refreshtoken', 'authorizationcode'];
const ROLES: readonly (readonly [string, string[]])[] = [
  ['token-viewer', MODEL_PERMISSIONS(['view'], ALL_MODELS)],
  ['token-admin', MODEL_PERMISSIONS(['view', 'delete'], ALL_MODELS)],
  ['access-token-auditor', MODEL_PERMISSIONS(['view'], ['accesstoken'])],
  ['refresh-token-manager', MODEL_PERMISSIONS(['view', 'delete'], ['refreshtoken'])],
  ['code-janitor', MODEL_PERMISSIONS(['view', 'delete'], ['authorizationcode'])],
];
/** [group, role] */
const GROUP_ROLES: readonly (readonly [string, string])[] = [
  ['auditors', 'token-viewer'],
  ['sre', 'token-admin'],
  ['security', 'access-token-auditor'],
  ['support-tier2', 'refresh-token-manager'],
  ['platform', 'code-janitor'],
];

const APPS = [
  'Grafana',
  'GitLab',
  'Nextcloud',
  'Jenkins',
  'Argo CD',
  'Vault',
  'Portainer',
  'Outline',
  'Wiki.js',
  'Mattermost',
  'Harbor',
  'MinIO',
  'Proxmox',
  'Home Assistant',
  'Paperless-ngx',
  'Immich',
  'Jellyfin',
  'Sentry',
  'Zammad',
  'Kibana',
];
const ACCESS_VALIDITIES = ['minutes=5', 'minutes=10', 'hours=1', 'hours=1', 'hours=1', 'hours=8'];
const REFRESH_VALIDITIES = ['days=30', 'days=30', 'days=7', 'hours=12', 'weeks=4'];
const SUB_MODES: readonly SubMode[] = [
  ...Array<SubMode>(14).fill('hashed_user_id'),
  'user_uuid',
  'user_uuid',
  'user_username',
  'user_username',
  'user_email',
  'user_upn',
];

// Repeated entries weight the choice; grants pick one by a byte of their hash.
const ACCESS_SCOPES = [
  'openid',
  'openid email',
  'openid profile',
  'openid profile email',
  'openid profile email',
  'openid profile email',
  'openid email profile offline_access',
  'openid profile email offline_access',
  'openid profile email goauthentik.io/api',
  'openid offline_access',
];
const REFRESH_SCOPES = [
  'openid offline_access',
  'openid email offline_access',
  'openid profile email offline_access',
  'openid profile email offline_access',
  'openid profile email offline_access goauthentik.io/api',
];
const CODE_SCOPES = [
  'openid',
  'openid profile email',
  'openid profile email',
  'openid profile email offline_access',
];

const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------------------------
// Users, groups, roles

interface Counts {
  users: number;
  groups: number;
  roles: number;
  providers: number;
  applications: number;
  access_tokens: number;
  refresh_tokens: number;
  authorization_codes: number;
  events: number;
}

const prefix = (k: number): string => `seed-${k}-`;

/** The pool (EntityManager) or one session (QueryRunner). */
type Sql = Pick<EntityManager, 'query'>;

async function count(runner: Sql, sql: string, params: unknown[]): Promise<number> {
  const rows: { count: number }[] = await runner.query(sql, params);
  return rows[0]?.count ?? 0;
}

interface SeedUser {
  username: string;
  name: string;
  email: string;
  isActive: boolean;
  type: UserType;
  uuid: string;
  dateJoined: Date;
  lastLogin: Date | null;
  attributes: Record<string, unknown>;
  groups: string[];
  role: string | null;
}

/** User i of seed k does not depend on how many users are asked for, so a larger run extends a smaller one. */
function seedUser(k: number, i: number, now: number): SeedUser {
  const rand = random(k, 'user', i);
  const type = pick(rand, USER_TYPES);
  const [first, firstAscii] = pick(rand, FIRST_NAMES);
  const [last, lastAscii] = pick(rand, LAST_NAMES);
  const domain = pick(rand, DOMAINS);
  const dateJoined = new Date(now - Math.floor(rand() * 730 * DAY_MS));
  const lastLogin =
    rand() < 0.15 ? null : new Date(dateJoined.getTime() + Math.floor(rand() * (now - dateJoined.getTime())));
  const isActive = rand() >= 0.08;
  const role = rand() < 0.03 ? pick(rand, ROLES)[0] : null;
  if (type === 'service_account' || type === 'internal_service_account') {
    const service = pick(rand, SERVICES);
    return {
      username: `${prefix(k)}svc-${service}-${i}`,
      name: `${service} service account`,
      email: '',
      isActive,
      type,
      uuid: uuid(rand),
      dateJoined,
      lastLogin,
      attributes: { 'goauthentik.io/user/service-account': true },
      groups: ['service-accounts'],
      role,
    };
  }
  const handle = `${firstAscii}.${lastAscii}`;
  const groups: string[] = [];
  if (type === 'external') {
    if (rand() < 0.5) groups.push('contractors');
  } else {
    groups.push(pick(rand, STAFF_GROUPS));
    if (rand() < 0.3) groups.push(pick(rand, STAFF_GROUPS));
    if (rand() < 0.02) groups.push('admins');
    if (rand() < 0.03) groups.push(pick(rand, ['security', 'auditors']));
  }
  return {
    username: `${prefix(k)}${handle}-${i}`,
    name: rand() < 0.05 ? '' : `${first} ${last}`,
    email: rand() < 0.05 ? '' : `${handle}${i}@${domain}`,
    isActive,
    type,
    uuid: uuid(rand),
    dateJoined,
    lastLogin,
    attributes: type === 'internal' && rand() < 0.3 ? { upn: `${handle}${i}@corp.example` } : {},
    groups: [...new Set(groups)],
    role,
  };
}

const ROW_BATCH = 10_000;

async function seedGroupsAndRoles(runner: Sql, k: number): Promise<{ groups: number; roles: number }> {
  const rand = random(k, 'groups');
  const groups = await count(
    runner,
    `WITH ins AS (
       INSERT INTO groups (id, name, is_superuser)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::bool[])
       ON CONFLICT DO NOTHING RETURNING 1)
     SELECT count(*)::int AS count FROM ins`,
    [
      GROUPS.map(() => uuid(rand)),
      GROUPS.map(([name]) => prefix(k) + name),
      GROUPS.map(([, superuser]) => superuser),
    ],
  );
  const children = GROUPS.flatMap(([name, , parent]) => (parent === null ? [] : [[name, parent] as const]));
  await runner.query(
    `UPDATE groups c SET parent_id = p.id
       FROM unnest($1::text[], $2::text[]) AS g(name, parent) JOIN groups p ON p.name = g.parent
      WHERE c.name = g.name AND c.parent_id IS NULL`,
    [children.map(([name]) => prefix(k) + name), children.map(([, parent]) => prefix(k) + parent)],
  );
  const roles = await count(
    runner,
    `WITH ins AS (
       INSERT INTO roles (id, name, permissions)
       SELECT r.id, r.name, string_to_array(r.permissions, ' ')
         FROM unnest($1::uuid[], $2::text[], $3::text[]) AS r(id, name, permissions)
       ON CONFLICT DO NOTHING RETURNING 1)
     SELECT count(*)::int AS count FROM ins`,
    [
      ROLES.map(() => uuid(rand)),
      ROLES.map(([name]) => prefix(k) + name),
      ROLES.map(([, permissions]) => permissions.join(' ')),
    ],
  );
  await runner.query(
    `INSERT INTO group_roles (group_id, role_id)
     SELECT g.id, r.id FROM unnest($1::text[], $2::text[]) AS a(grp, role)
       JOIN groups g ON g.name = a.grp JOIN roles r ON r.name = a.role
     ON CONFLICT DO NOTHING`,
    [GROUP_ROLES.map(([group]) => prefix(k) + group), GROUP_ROLES.map(([, role]) => prefix(k) + role)],
  );
  return { groups, roles };
}

async function seedUsers(
  runner: Sql,
  k: number,
  total: number,
  now: number,
  progress: Progress,
): Promise<{ created: number; usernames: string[] }> {
  let created = 0;
  const usernames: string[] = [];
  for (let start = 1; start <= total; start += ROW_BATCH) {
    const batch: SeedUser[] = [];
    for (let i = start; i < Math.min(start + ROW_BATCH, total + 1); i += 1) batch.push(seedUser(k, i, now));
    usernames.push(...batch.map((user) => user.username));
    created += await count(
      runner,
      `WITH ins AS (
         INSERT INTO users (username, name, email, is_active, type, uuid, date_joined, password_change_date,
                            last_updated, last_login, attributes)
         SELECT u.username, u.name, u.email, u.is_active, u.type, u.uuid, u.joined, u.joined, u.joined, u.last_login,
                u.attributes
           FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[], $6::uuid[], $7::timestamptz[],
                       $8::timestamptz[], $9::jsonb[])
                AS u(username, name, email, is_active, type, uuid, joined, last_login, attributes)
         ON CONFLICT DO NOTHING RETURNING 1)
       SELECT count(*)::int AS count FROM ins`,
      [
        batch.map((u) => u.username),
        batch.map((u) => u.name),
        batch.map((u) => u.email),
        batch.map((u) => u.isActive),
        batch.map((u) => u.type),
        batch.map((u) => u.uuid),
        batch.map((u) => u.dateJoined.toISOString()),
        batch.map((u) => u.lastLogin?.toISOString() ?? null),
        batch.map((u) => JSON.stringify(u.attributes)),
      ],
    );
    const memberships = batch.flatMap((u) =>
      u.groups.map((group) => [u.username, prefix(k) + group] as const),
    );
    await runner.query(
      `INSERT INTO user_groups (user_id, group_id)
       SELECT u.id, g.id FROM unnest($1::text[], $2::text[]) AS m(username, grp)
         JOIN users u ON u.username = m.username JOIN groups g ON g.name = m.grp
       ON CONFLICT DO NOTHING`,
      [memberships.map(([username]) => username), memberships.map(([, group]) => group)],
    );
    const roles = batch.flatMap((u) => (u.role === null ? [] : [[u.username, prefix(k) + u.role] as const]));
    await runner.query(
      `INSERT INTO user_roles (user_id, role_id)
       SELECT u.id, r.id FROM unnest($1::text[], $2::text[]) AS a(username, role)
         JOIN users u ON u.username = a.username JOIN roles r ON r.name = a.role
       ON CONFLICT DO NOTHING`,
      [roles.map(([username]) => username), roles.map(([, role]) => role)],
    );
    progress.update('users', usernames.length, total);
  }
  return { created, usernames };
}

// ---------------------------------------------------------------------------------------------------------------
// Providers and applications

interface SeedProviderRow {
  id: number;
  clientId: string;
  issuer: string;
  subMode: SubMode;
  includeClaims: boolean;
  accessMs: number;
  refreshMs: number;
  codeMs: number;
}

function appName(j: number): { name: string; slug: string } {
  const base = APPS[(j - 1) % APPS.length] ?? 'App';
  const round = Math.floor((j - 1) / APPS.length);
  const name = round === 0 ? base : `${base} ${round + 1}`;
  return { name, slug: name.toLowerCase().replace(/[^a-z0-9]+/g, '-') };
}

async function seedProviders(
  manager: EntityManager,
  k: number,
  total: number,
  sealer: Sealer,
): Promise<{ providers: number; applications: number; rows: SeedProviderRow[] }> {
  const flows = random(k, 'flows');
  const authorizationFlow = uuid(flows);
  const invalidationFlow = uuid(flows);
  let providers = 0;
  let applications = 0;
  const rows: SeedProviderRow[] = [];
  const appIds: string[] = [];
  for (let j = 1; j <= total; j += 1) {
    const rand = random(k, 'provider', j);
    const { name, slug } = appName(j);
    const providerName = `${prefix(k)}${name}`;
    const appSlug = `${prefix(k)}${slug}`;
    const clientType: ClientType = rand() < 0.8 ? 'confidential' : 'public';
    const hasApp = rand() < 0.8;
    const backchannel = !hasApp && rand() < 0.5 && appIds.length > 0 ? pick(rand, appIds) : null;
    const issuerMode: IssuerMode = rand() < 0.85 ? 'per_provider' : 'global';
    const redirectUris = [`https://${slug}.example.com/oauth2/callback`];
    if (rand() < 0.3) redirectUris.push(`http://localhost:${3000 + (j % 1000)}/oauth2/callback`);
    let provider = await manager.findOneBy(OAuth2ProviderEntity, { name: providerName });
    if (!provider) {
      ({ provider } = await createProvider(
        manager,
        {
          name: providerName,
          clientType,
          clientId: alphanumeric(rand, 40),
          redirectUris,
          accessTokenValidity: pick(rand, ACCESS_VALIDITIES),
          refreshTokenValidity: pick(rand, REFRESH_VALIDITIES),
          accessCodeValidity: 'minutes=1',
          subMode: pick(rand, SUB_MODES),
          issuerMode,
          includeClaimsInIdToken: rand() < 0.9,
          authorizationFlow,
          invalidationFlow,
          backchannelApplicationId: backchannel,
          // P-256 keys take well under a millisecond; RSA-2048 ~50-250 ms each, which would make seeding 100
          // providers take seconds to tens of seconds. `provider create` and the server's back-fill use RS256.
          signingAlgorithm: 'ES256',
        },
        sealer,
      ));
      providers += 1;
    }
    let application = await manager.findOneBy(ApplicationEntity, { slug: appSlug });
    if (hasApp && !application) {
      // Its own stream, so that the provider's draws above stay what they were before applications had seeded ids.
      const id = uuid(random(k, 'application', j));
      application = await createApplication(manager, { id, slug: appSlug, name, providerId: provider.id });
      applications += 1;
    }
    if (application) appIds.push(application.id);
    rows.push({
      id: provider.id,
      clientId: provider.clientId,
      issuer: issuerFor(
        provider.issuerMode,
        application?.providerId === provider.id ? application.slug : undefined,
      ),
      subMode: provider.subMode,
      includeClaims: provider.includeClaimsInIdToken,
      accessMs: parseTimedelta(provider.accessTokenValidity),
      refreshMs: parseTimedelta(provider.refreshTokenValidity),
      codeMs: parseTimedelta(provider.accessCodeValidity),
    });
  }
  return { providers, applications, rows };
}

// ---------------------------------------------------------------------------------------------------------------
// Grants, generated by PostgreSQL

/** Rows per INSERT: big enough that per-statement overhead vanishes, small enough for a lively progress bar. */
const GRANT_BATCH = 25_000;
/** PostgreSQL does the work; two sessions keep both cores of a small machine busy. */
const GRANT_WORKERS = 2;

/** Which provider validity applies to each kind, in the seconds columns of seed_providers. */
const VALIDITY_COLUMNS: Record<GrantKind['table'], string> = {
  oauth2_access_tokens: 'access_s',
  oauth2_refresh_tokens: 'refresh_s',
  oauth2_authorization_codes: 'code_s',
};

const SUB_COLUMNS: Record<SubMode, string> = {
  hashed_user_id: 'sub_hashed',
  user_id: 'sub_id',
  user_uuid: 'sub_uuid',
  user_username: 'sub_username',
  user_email: 'sub_email',
  user_upn: 'sub_upn',
};

/**
 * Per row, `d` = sha256("seed-K-<kind>-<i>") supplies the random choices, a byte or two each: user (skewed towards
 * the first users, as real traffic is), provider, scope, state (~10% expired, ~3% never expiring), ~5% revoked,
 * times, session id and nonce. The stored hash is sha256(install id || d): deterministic within a database, so a
 * re-run finds the same rows, yet not computable by someone who only knows K, so no seeded row is a usable
 * credential.
 *
 * Times are epoch seconds (float8) until stored: far cheaper than interval arithmetic. The ID token is assembled as
 * JSON text from fragments the session tables hold already escaped, and parsed once; building it with
 * jsonb_build_object took most of the time.
 */
function grantSql(kind: GrantKind): string {
  const { table } = kind;
  const validity = VALIDITY_COLUMNS[table];
  const fraction = (...bytes: number[]): string =>
    `(${bytes.map((b, n) => `(get_byte(d, ${b}) << ${8 * (bytes.length - 1 - n)})`).join(' | ')})::float8 / ${2 ** (8 * bytes.length)}`;
  const base64url = (bytes: string): string =>
    `translate(rtrim(encode(${bytes}, 'base64'), '='), '+/', '-_')`;
  const subject = `CASE a.sub_mode ${Object.entries(SUB_COLUMNS)
    .map(([mode, column]) => `WHEN '${mode}' THEN u.${column}`)
    .join(' ')} END`;
  const idToken = `('{' || a.claims || ',"sub":' || ${subject}
       || ',"exp":' || floor(coalesce(a.expires_s, a.created_s + a.access_s))::bigint
       || ',"iat":' || floor(a.created_s)::bigint
       || ',"auth_time":' || floor(a.auth_s)::bigint
       || coalesce(',"nonce":"' || a.nonce || '"', '')
       || coalesce(',"sid":"' || a.session_id || '"', '')
       ${kind === ACCESS_TOKENS ? `|| ',"at_hash":"' || ${base64url('substring(a.hash FROM 1 FOR 16)')} || '"'` : ''}
       || CASE WHEN a.include_claims AND a.scope ~ '\\memail\\M' THEN ',' || u.email_claims ELSE '' END
       || CASE WHEN a.include_claims AND a.scope ~ '\\mprofile\\M' THEN ',' || u.profile_claims ELSE '' END
       || '}')::jsonb`;
  const [columns, values] = kind.isToken
    ? [`${kind.hashColumn}, id_token`, `a.hash, ${idToken}`]
    : [
        `${kind.hashColumn}, nonce, code_challenge, code_challenge_method`,
        `a.hash, a.nonce,
         CASE WHEN a.pkce < 180 THEN ${base64url('sha256(a.d)')} END,
         CASE WHEN a.pkce < 165 THEN 'S256' WHEN a.pkce < 180 THEN 'plain' END`,
      ];
  return `
WITH r AS MATERIALIZED (
  SELECT i, d, sha256($3::bytea || d) AS hash,
         1 + least($4::int - 1, floor($4::int * power(${fraction(0, 1)}, 2))::int) AS uidx,
         1 + least($5::int - 1, floor($5::int * power(${fraction(2, 3)}, 1.6))::int) AS pidx,
         ($6::text[])[1 + get_byte(d, 4) % cardinality($6::text[])] AS scope,
         ${fraction(5, 6)} AS f_state,
         ${fraction(7, 8)} AS f_revoke,
         ${fraction(9, 10, 11)} AS f_time,
         ${fraction(12, 13, 14)} AS f_auth,
         get_byte(d, 15) AS extra,
         get_byte(d, 16) AS pkce
    FROM (SELECT i, sha256(convert_to($7::text || i, 'UTF8')) AS d FROM generate_series($1::int, $2::int) AS i) g
),
e AS (
  SELECT r.*, p.id AS provider_id, p.claims, p.sub_mode, p.include_claims, p.access_s, p.${validity} AS validity_s,
         CASE WHEN r.f_state < 0.10 THEN $8::float8 - 1 - r.f_time * 30 * 86400
              WHEN r.f_state < 0.13 THEN NULL
              ELSE $8::float8 + greatest(1, r.f_time * p.${validity}) END AS expires_s
    FROM r JOIN seed_providers p ON p.idx = r.pidx
),
c AS (
  SELECT e.*, coalesce(e.expires_s - e.validity_s, $8::float8 - e.f_time * 90 * 86400) AS created_s FROM e
),
a AS (
  SELECT c.*, c.created_s - c.f_auth * 86400 AS auth_s,
         CASE WHEN c.extra < 153 THEN ${base64url('substring(c.d FROM 21 FOR 12)')} END AS nonce,
         CASE WHEN c.extra % 8 <> 0 THEN encode(substring(c.d FROM 17 FOR 16), 'hex') END AS session_id
    FROM c
)
INSERT INTO ${table} (provider_id, user_id, expires, expiring, revoked, scope, auth_time, session_id, created,
                      ${columns})
SELECT a.provider_id, u.id, to_timestamp(a.expires_s), a.expires_s IS NOT NULL, a.f_revoke < 0.05, a.scope,
       to_timestamp(a.auth_s), a.session_id, to_timestamp(a.created_s), ${values}
  FROM a JOIN seed_users u ON u.idx = a.uidx
 -- Skipping existing rows here, not only by ON CONFLICT, keeps a re-run from burning an id for each of them.
 WHERE NOT EXISTS (SELECT 1 FROM ${table} x WHERE x.${kind.hashColumn} = a.hash)
ON CONFLICT DO NOTHING`;
}

/**
 * A session for grant statements, holding the seeded users and providers in temporary tables keyed by the index a
 * grant draws, with everything per user or per provider precomputed: subjects and claims as JSON text.
 */
async function openGrantSession(
  context: CommandContext,
  users: string[],
  installId: string,
  providers: SeedProviderRow[],
): Promise<QueryRunner> {
  const runner = context.dataSource.createQueryRunner();
  await runner.connect();
  try {
    // Losing the last seeded batch to a crash is harmless (run the seed again); waiting for each WAL flush is not.
    await runner.query('SET synchronous_commit = off');
    await runner.query('DROP TABLE IF EXISTS pg_temp.seed_users, pg_temp.seed_providers');
    await runner.query(
      `CREATE TEMPORARY TABLE seed_users AS
       SELECT row_number() OVER (ORDER BY n.ord)::int AS idx, u.id,
              to_json(x.uid)::text AS sub_hashed, to_json(u.id::text)::text AS sub_id,
              to_json(u.uuid::text)::text AS sub_uuid, to_json(u.username)::text AS sub_username,
              to_json(u.email)::text AS sub_email, to_json(coalesce(u.attributes ->> 'upn', x.uid))::text AS sub_upn,
              format('"email":%s,"email_verified":true', to_json(u.email)) AS email_claims,
              format('"name":%1$s,"given_name":%1$s,"preferred_username":%2$s,"nickname":%2$s',
                     to_json(u.name), to_json(u.username)) AS profile_claims
         FROM unnest($1::text[]) WITH ORDINALITY AS n(username, ord)
         JOIN users u ON u.username = n.username
        CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(u.id || '-' || $2, 'UTF8')), 'hex') AS uid) x`,
      [users, installId],
    );
    await runner.query(
      `CREATE TEMPORARY TABLE seed_providers AS
       SELECT * FROM unnest($1::int[], $2::int[], $3::text[], $4::text[], $5::bool[], $6::float8[], $7::float8[],
                            $8::float8[])
              AS p(idx, id, claims, sub_mode, include_claims, access_s, refresh_s, code_s)`,
      [
        providers.map((_, index) => index + 1),
        providers.map((p) => p.id),
        providers.map((p) =>
          JSON.stringify({ iss: p.issuer, aud: p.clientId, acr: DEFAULT_ACR, amr: ['pwd'] }).slice(1, -1),
        ),
        providers.map((p) => p.subMode),
        providers.map((p) => p.includeClaims),
        providers.map((p) => p.accessMs / 1000),
        providers.map((p) => p.refreshMs / 1000),
        providers.map((p) => p.codeMs / 1000),
      ],
    );
    await runner.query('ALTER TABLE seed_users ADD PRIMARY KEY (idx)');
    await runner.query('ALTER TABLE seed_providers ADD PRIMARY KEY (idx)');
    await runner.query('ANALYZE seed_users, seed_providers');
    return runner;
  } catch (error) {
    await runner.release();
    throw error;
  }
}

interface GrantJob {
  grant: GrantKind;
  kind: string;
  label: string;
  total: number;
  scopes: string[];
}

/** Runs one job's batches on all sessions at once; returns the rows created. */
async function seedGrants(
  sessions: QueryRunner[],
  job: GrantJob,
  params: { k: number; salt: Buffer; users: number; providers: number; now: Date },
  progress: Progress,
): Promise<number> {
  const sql = `WITH ins AS (${grantSql(job.grant)} RETURNING 1) SELECT count(*)::int AS count FROM ins`;
  const batches = Math.ceil(job.total / GRANT_BATCH);
  let next = 0;
  let done = 0;
  let created = 0;
  const results = await Promise.allSettled(
    sessions.map(async (session) => {
      try {
        for (let batch = next++; batch < batches; batch = next++) {
          const start = batch * GRANT_BATCH + 1;
          const end = Math.min(start + GRANT_BATCH - 1, job.total);
          const inserted = await count(session, sql, [
            start,
            end,
            params.salt,
            params.users,
            params.providers,
            job.scopes,
            `${prefix(params.k)}${job.kind}-`,
            params.now.getTime() / 1000,
          ]);
          // Only after the await: `created += await ...` would read `created` before another session updated it.
          created += inserted;
          done += end - start + 1;
          progress.update(job.label, done, job.total);
        }
      } catch (error) {
        next = batches; // the other sessions stop after their current batch
        throw error;
      }
    }),
  );
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
  return created;
}

// ---------------------------------------------------------------------------------------------------------------
// Events, generated by PostgreSQL

/**
 * The action mix of the seeded event log (repeated entries weight the choice): Grantry's own names as the inventory
 * and issuance write them (served through grantry_event_action as authentik's), and authentik's own, the model_*
 * ones with `context.model` as the management API records them.
 */
const EVENT_MIX = [
  ...Array<string>(6).fill('token_issued'),
  ...Array<string>(4).fill('authorization_granted'),
  ...Array<string>(4).fill('login'),
  ...Array<string>(2).fill('grant_deleted'),
  ...Array<string>(2).fill('model_updated'),
  ...Array<string>(2).fill('model_created'),
  'model_deleted',
  'token_revoked',
  'logout',
  'login_failed',
  'client_auth_failed',
  'authorization_denied',
  'code_replayed',
  'refresh_token_reused',
  'password_set',
  'secret_view',
];

/**
 * Per event, `d` = sha256("seed-K-event-<i>") supplies the choices: the actor (a seeded user, skewed towards the
 * first users as grants are), the action, a target user for model_* events, `created` spread over the year before
 * seeding, ~1 % expired (kept 7 days instead of 365), ~5 % of the authentik-style events by the CLI, client
 * addresses. The event's uuid is 16 bytes of `d`, so a re-run finds the rows it made.
 */
function eventSql(): string {
  const fraction = (...bytes: number[]): string =>
    `(${bytes.map((b, n) => `(get_byte(d, ${b}) << ${8 * (bytes.length - 1 - n)})`).join(' | ')})::float8 / ${2 ** (8 * bytes.length)}`;
  return `
WITH r AS MATERIALIZED (
  SELECT i, d, encode(substring(d FROM 17 FOR 16), 'hex')::uuid AS event_uuid,
         1 + least($3::int - 1, floor($3::int * power(${fraction(0, 1)}, 2))::int) AS uidx,
         1 + least($3::int - 1, floor($3::int * ${fraction(2, 3)})::int) AS tidx,
         ($4::text[])[1 + get_byte(d, 4) % cardinality($4::text[])] AS action,
         $5::float8 - ${fraction(5, 6, 7)} * 365 * 86400 AS created_s,
         get_byte(d, 8) AS expiry, get_byte(d, 9) AS cli, get_byte(d, 10) AS b10, get_byte(d, 11) AS b11,
         get_byte(d, 12) AS b12, (get_byte(d, 13) << 8 | get_byte(d, 14)) AS n16
    FROM (SELECT i, sha256(convert_to($2::text || i, 'UTF8')) AS d FROM generate_series($1::int, $6::int) AS i) g
),
e AS (
  SELECT r.*, r.action IN ('token_issued', 'authorization_granted', 'grant_deleted', 'token_revoked',
                           'client_auth_failed', 'authorization_denied', 'code_replayed', 'refresh_token_reused')
              AS legacy,
         r.action NOT IN ('token_issued', 'authorization_granted', 'grant_deleted', 'token_revoked',
                          'client_auth_failed', 'authorization_denied', 'code_replayed', 'refresh_token_reused',
                          'login_failed') AND r.cli < 13 AS by_cli,
         CASE WHEN r.action IN ('authorization_granted', 'authorization_denied', 'client_auth_failed')
                THEN 'OAuth2Provider'
              WHEN r.action = 'code_replayed' OR (r.b10 < 40 AND r.action = 'grant_deleted') THEN 'AuthorizationCode'
              WHEN r.action IN ('refresh_token_reused') OR r.b10 < 110 THEN 'RefreshToken'
              ELSE 'AccessToken' END AS legacy_model,
         '10.' || r.b10 || '.' || r.b11 || '.' || r.b12 AS ip,
         encode(substring(r.d FROM 1 FOR 16), 'hex') AS request_id
    FROM r
)
INSERT INTO audit_events (event_uuid, created, expires, action, app, actor_user_id, actor_username, actor_email,
                          model, object_pk, object_user_id, client_ip, request_id, context)
SELECT e.event_uuid, to_timestamp(e.created_s),
       to_timestamp(e.created_s) + CASE WHEN e.expiry < 3 THEN interval '7 days' ELSE interval '365 days' END,
       e.action,
       CASE WHEN e.action IN ('password_set', 'secret_view') THEN 'authentik.core' ELSE 'authentik.events' END,
       CASE WHEN e.by_cli OR e.action = 'login_failed' THEN NULL ELSE u.id END,
       CASE WHEN e.by_cli THEN 'grantry-cli' ELSE u.username END,
       CASE WHEN e.by_cli OR e.action = 'login_failed' THEN '' ELSE left(u.email, 254) END,
       CASE WHEN e.legacy THEN e.legacy_model
            WHEN e.action IN ('model_created', 'model_updated', 'model_deleted', 'password_set') THEN 'user' END,
       CASE WHEN e.legacy THEN CASE WHEN e.legacy_model = 'OAuth2Provider' THEN 1 + e.n16 % 100 ELSE 1 + e.n16 * 15 END
            WHEN e.action IN ('model_created', 'model_updated', 'model_deleted', 'password_set') THEN t.id END,
       CASE WHEN e.legacy THEN u.id END,
       CASE WHEN e.legacy OR e.by_cli THEN NULL ELSE e.ip END,
       CASE WHEN e.legacy THEN e.request_id END,
       CASE WHEN e.legacy THEN '{}'::jsonb
            ELSE jsonb_strip_nulls(jsonb_build_object(
              'model', CASE WHEN e.action IN ('model_created', 'model_updated', 'model_deleted', 'password_set')
                            THEN jsonb_build_object('app', 'authentik_core', 'model_name', 'user', 'pk', t.id,
                                                    'name', t.name) END,
              'auth_method', CASE WHEN e.action IN ('login', 'login_failed') THEN 'password' END,
              'username', CASE WHEN e.action = 'login_failed' THEN u.username END,
              'secret', CASE WHEN e.action = 'secret_view' THEN '********************' END,
              'http_request', CASE WHEN NOT e.by_cli THEN jsonb_build_object(
                'path', CASE WHEN e.action LIKE 'model_%' OR e.action = 'password_set'
                             THEN '/api/v3/core/users/' ELSE '/if/flow/default-authentication-flow/' END,
                'method', CASE e.action WHEN 'model_updated' THEN 'PATCH' WHEN 'model_deleted' THEN 'DELETE'
                                        ELSE 'POST' END,
                'args', '{}'::jsonb,
                'user_agent', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0',
                'request_id', e.request_id) END))
       END
  FROM e JOIN seed_users su ON su.idx = e.uidx JOIN users u ON u.id = su.id
  JOIN seed_users st ON st.idx = e.tidx JOIN users t ON t.id = st.id
 WHERE NOT EXISTS (SELECT 1 FROM audit_events x WHERE x.event_uuid = e.event_uuid)
ON CONFLICT DO NOTHING`;
}

/** Runs the event batches on all sessions at once; returns the rows created. */
async function seedEvents(
  sessions: QueryRunner[],
  total: number,
  params: { k: number; users: number; now: Date },
  progress: Progress,
): Promise<number> {
  const sql = `WITH ins AS (${eventSql()} RETURNING 1) SELECT count(*)::int AS count FROM ins`;
  const batches = Math.ceil(total / GRANT_BATCH);
  let next = 0;
  let done = 0;
  let created = 0;
  const results = await Promise.allSettled(
    sessions.map(async (session) => {
      try {
        for (let batch = next++; batch < batches; batch = next++) {
          const start = batch * GRANT_BATCH + 1;
          const end = Math.min(start + GRANT_BATCH - 1, total);
          const inserted = await count(session, sql, [
            start,
            `${prefix(params.k)}event-`,
            params.users,
            EVENT_MIX,
            params.now.getTime() / 1000,
            end,
          ]);
          created += inserted;
          done += end - start + 1;
          progress.update('events', done, total);
        }
      } catch (error) {
        next = batches;
        throw error;
      }
    }),
  );
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
  return created;
}

// ---------------------------------------------------------------------------------------------------------------
// Progress

interface Progress {
  update(label: string, done: number, total: number): void;
  finish(): void;
}

function progressBar(stream: NodeJS.WriteStream): Progress {
  if (!stream.isTTY) return { update: () => undefined, finish: () => undefined };
  let shown = false;
  return {
    update(label, done, total) {
      const width = 30;
      const filled = total === 0 ? width : Math.round((done / total) * width);
      const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
      const bar = `${'#'.repeat(filled)}${' '.repeat(width - filled)}`;
      stream.write(`\r\x1b[K${label.padEnd(20)} [${bar}] ${String(percent).padStart(3)}% ${done}/${total}`);
      shown = true;
    },
    finish() {
      if (shown) stream.write('\r\x1b[K');
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------

interface SeedSettings {
  k: number;
  users: number;
  providers: number;
  access: number;
  refresh: number;
  codes: number;
  events: number;
}

async function seed(context: CommandContext, options: SeedSettings): Promise<Counts> {
  const { k } = options;
  const now = new Date();
  const progress = progressBar(context.stderr);
  const sessions: QueryRunner[] = [];
  try {
    const { dataSource } = context;
    const install = await dataSource.manager.findOneBy(InstallEntity, { id: 1 });
    if (!install) throw new Error('the install row is missing: the database was not migrated');
    const { groups, roles } = await seedGroupsAndRoles(dataSource.manager, k);
    const users = await seedUsers(dataSource.manager, k, options.users, now.getTime(), progress);
    const sealer = await context.sealer();
    const providers = await dataSource.transaction((manager) =>
      seedProviders(manager, k, options.providers, sealer),
    );
    const counts: Counts = {
      users: users.created,
      groups,
      roles,
      providers: providers.providers,
      applications: providers.applications,
      access_tokens: 0,
      refresh_tokens: 0,
      authorization_codes: 0,
      events: 0,
    };
    const jobs: (GrantJob & { key: 'access_tokens' | 'refresh_tokens' | 'authorization_codes' })[] = [
      {
        key: 'access_tokens',
        grant: ACCESS_TOKENS,
        kind: 'access',
        label: 'access tokens',
        total: options.access,
        scopes: ACCESS_SCOPES,
      },
      {
        key: 'refresh_tokens',
        grant: REFRESH_TOKENS,
        kind: 'refresh',
        label: 'refresh tokens',
        total: options.refresh,
        scopes: REFRESH_SCOPES,
      },
      {
        key: 'authorization_codes',
        grant: AUTHORIZATION_CODES,
        kind: 'code',
        label: 'authorization codes',
        total: options.codes,
        scopes: CODE_SCOPES,
      },
    ];
    if (jobs.every((job) => job.total === 0) && options.events === 0) return counts;
    const workers = Math.min(
      GRANT_WORKERS,
      Math.ceil(Math.max(options.events, ...jobs.map((job) => job.total)) / GRANT_BATCH),
    );
    for (let w = 0; w < workers; w += 1) {
      sessions.push(await openGrantSession(context, users.usernames, install.installId, providers.rows));
    }
    const userCount = await count(
      sessions[0] as QueryRunner,
      'SELECT count(*)::int AS count FROM seed_users',
      [],
    );
    const params = {
      k,
      salt: Buffer.from(`${install.installId}-`, 'utf8'),
      users: userCount,
      providers: providers.rows.length,
      now,
    };
    for (const job of jobs) {
      if (job.total > 0) counts[job.key] = await seedGrants(sessions, job, params, progress);
    }
    // Fold the count deltas the inserts appended, and mark the new pages all-visible and refresh the statistics, so
    // the API's index-only scans (counts, deep pages) do not have to visit a million fresh heap rows first.
    await foldGrantCounts(dataSource);
    for (const job of jobs) {
      if (counts[job.key] > 0) await dataSource.query(`VACUUM (ANALYZE) ${job.grant.table}`);
    }
    if (options.events > 0) {
      counts.events = await seedEvents(sessions, options.events, { k, users: userCount, now }, progress);
      if (counts.events > 0) await dataSource.query('VACUUM (ANALYZE) audit_events');
    }
    return counts;
  } finally {
    progress.finish();
    for (const session of sessions) {
      await session
        .query('DROP TABLE IF EXISTS pg_temp.seed_users, pg_temp.seed_providers')
        .catch(() => undefined);
      await session.release();
    }
  }
}

const MAX_GRANTS = 100_000_000;

export const seedCommand = defineCommand({
  name: 'seed',
  summary: 'Fill the database with a realistic, reproducible data set (same --seed, same data).',
  options: {
    users: { type: 'string', valueName: 'N', description: 'users (default 100)' },
    providers: {
      type: 'string',
      valueName: 'N',
      description: 'OAuth2 providers, most with an application (default 10)',
    },
    'access-tokens': { type: 'string', valueName: 'N', description: 'access tokens (default 1000)' },
    'refresh-tokens': { type: 'string', valueName: 'N', description: 'refresh tokens (default 1000)' },
    'authorization-codes': {
      type: 'string',
      valueName: 'N',
      description: 'authorization codes (default 200)',
    },
    events: {
      type: 'string',
      valueName: 'N',
      description: 'events in the audit log, by seeded users over the past year (default 0)',
    },
    seed: { type: 'string', valueName: 'K', description: 'which data set (default 1)' },
  },
  notes: [
    'Every name the seed writes starts with "seed-K-" and every grant is derived from K and its number, so',
    'running it again with the same K skips what already exists and adds only what is missing: the same',
    'command twice creates everything once, a larger count extends a smaller run, and an interrupted run can',
    'simply be repeated. The counts printed are the rows this run created (0 when all existed). Times are',
    'relative to the moment of seeding. Grant values are never printed, and cannot be derived from K.',
    '',
    'JSON output: {"users", "groups", "roles", "providers", "applications", "access_tokens", "refresh_tokens",',
    '"authorization_codes", "events" (with --events), "seconds"}.',
  ].join('\n'),
  prepare(options) {
    const number = (name: keyof typeof options, fallback: number, max: number): number => {
      const raw = options[name];
      return typeof raw === 'string' ? parseInteger(name, raw, 0, max) : fallback;
    };
    const settings = {
      k: number('seed', 1, 2_147_483_647),
      users: number('users', 100, 10_000_000),
      providers: number('providers', 10, 100_000),
      access: number('access-tokens', 1000, MAX_GRANTS),
      refresh: number('refresh-tokens', 1000, MAX_GRANTS),
      codes: number('authorization-codes', 200, MAX_GRANTS),
      events: number('events', 0, MAX_GRANTS),
    };
    if (
      settings.access + settings.refresh + settings.codes + settings.events > 0 &&
      (settings.users === 0 || settings.providers === 0)
    ) {
      throw new ArgumentError(
        'grants need at least one user and one provider: raise --users and --providers',
      );
    }
    return async (context) => {
      const started = process.hrtime.bigint();
      const { events, ...counts } = await seed(context, settings);
      const seconds = Math.round(Number(process.hrtime.bigint() - started) / 1e7) / 100;
      return {
        // `events` only when asked for, so the output of a seed without events keeps its shape.
        json: { ...counts, ...(settings.events > 0 ? { events } : {}), seconds },
        text:
          `Seed ${settings.k}: created ${counts.users} users, ${counts.groups} groups, ${counts.roles} roles, ` +
          `${counts.providers} providers, ${counts.applications} applications, ${counts.access_tokens} access ` +
          `tokens, ${counts.refresh_tokens} refresh tokens, ${counts.authorization_codes} authorization codes and ` +
          `${events} events ` +
          `in ${seconds} s (rows that already existed were skipped).`,
      };
    };
  },
});
