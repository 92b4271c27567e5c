/**
 * The issuance scenarios: the token endpoint (client_credentials, refresh_token with and without rotation,
 * authorization_code) and introspection, on Grantry and on the bare loop (bench/issuance-baseline.ts, served by
 * bench/baseline.ts), and a read scenario measured while client_credentials runs alongside at a fixed rate.
 * See bench/README.md, "Issuance".
 */
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { decodeJwt, decodeProtectedHeader, importJWK, type JWK, jwtVerify } from 'jose';
import { cli, drain, query, readMarker, type QueryCounter, writeMarker } from './database';
import type { LoadRequest, LoadResult } from './load';
import { type Comparison, compare, type Fetched, statementsPerCall } from './measure';
import { forkControlled, forkOnce, HarnessError, type Server, sleep } from './procs';
import type { ScenarioInfo } from './scenarios';

export const TOKEN_PATH = '/application/o/token/';
export const INTROSPECT_PATH = '/application/o/introspect/';
const REDIRECT_URI = 'https://rp.bench.example/callback';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
/** Authorization codes and rotating refresh tokens are single use: enough are made for this many requests a second. */
const MAX_RATE = 1500;
/** Refresh tokens of the non-rotating scenario (and tokens introspected), cycled through in order. */
const POOL = 256;
const CODE_SCOPE = 'openid profile email offline_access';
const LOAD_SCRIPT = path.join(__dirname, 'load.js');

export interface BenchClient {
  providerId: number;
  name: string;
  clientId: string;
  clientSecret: string;
  slug: string;
  signingKey: string;
}

/** Kept in bench_meta under `issuance`. */
export interface IssuanceFixtures {
  /** Default refresh_token_threshold (seconds=0: every refresh rotates): client_credentials, codes, introspection. */
  main: BenchClient;
  /** refresh_token_threshold days=1 and refresh tokens valid 30 days: refreshing never rotates. */
  refresh: BenchClient;
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

const NAMES = { main: 'bench-issuance', refresh: 'bench-issuance-refresh' } as const;

async function clientWorks(url: string, client: BenchClient | undefined): Promise<boolean> {
  if (!client) return false;
  const rows = await query<{ ok: boolean }>(
    url,
    `SELECT p.client_secret_hash = $3 AND p.signing_key IS NOT NULL AND a.slug = $4 AS ok
       FROM oauth2_providers p JOIN applications a ON a.provider_id = p.id
      WHERE p.id = $1 AND p.client_id = $2`,
    [client.providerId, client.clientId, sha256(client.clientSecret), client.slug],
  );
  return rows[0]?.ok === true;
}

async function createClient(url: string, name: string): Promise<BenchClient> {
  // Left by an earlier data set whose marker is gone: removed with their grants (cascade).
  await query(url, 'DELETE FROM applications WHERE slug = $1', [name]);
  await query(url, 'DELETE FROM oauth2_providers WHERE name = $1', [name]);
  const provider = await cli<{ pk: number; client_id: string; client_secret: string; signing_key: string }>(
    url,
    ['provider', 'create', '--name', name, '--redirect-uri', REDIRECT_URI, '--consent-mode', 'implicit'],
  );
  await cli(url, [
    'app',
    'create',
    '--slug',
    name,
    '--name',
    `Bench ${name}`,
    '--provider',
    String(provider.pk),
  ]);
  return {
    providerId: provider.pk,
    name,
    clientId: provider.client_id,
    clientSecret: provider.client_secret,
    slug: name,
    signingKey: provider.signing_key,
  };
}

/**
 * Two confidential providers with their applications, made with the CLI once (their signing keys sealed with the
 * bench's SECRET_KEY) and kept in the marker; re-made when the marker no longer matches the database.
 */
export async function ensureIssuanceFixtures(url: string): Promise<IssuanceFixtures> {
  const stored = await readMarker<IssuanceFixtures>(url, 'issuance');
  const main = (await clientWorks(url, stored?.main)) ? stored?.main : await createClient(url, NAMES.main);
  const refresh = (await clientWorks(url, stored?.refresh))
    ? stored?.refresh
    : await createClient(url, NAMES.refresh);
  if (!main || !refresh) throw new HarnessError('issuance fixtures could not be made');
  // The CLI has no option for the threshold (the e2e suite sets it the same way).
  await query(url, `UPDATE oauth2_providers SET refresh_token_threshold = 'seconds=0' WHERE id = $1`, [
    main.providerId,
  ]);
  await query(url, `UPDATE oauth2_providers SET refresh_token_threshold = 'days=1' WHERE id = $1`, [
    refresh.providerId,
  ]);
  const fixtures = { main, refresh };
  await writeMarker(url, 'issuance', fixtures);
  return fixtures;
}

/**
 * Every grant of the bench's providers removed (what the scenarios issued, codes and refresh tokens they made and
 * did not use, redemptions) and the tables vacuumed, so the read scenarios of later runs see the seeded data only.
 */
export async function cleanUpIssuance(url: string, fixtures: IssuanceFixtures): Promise<number> {
  const ids = [fixtures.main.providerId, fixtures.refresh.providerId];
  let removed = 0;
  for (const table of [
    'oauth2_access_tokens',
    'oauth2_refresh_tokens',
    'oauth2_authorization_codes',
    'oauth2_code_redemptions',
  ]) {
    const rows = await query<{ n: number }>(
      url,
      `WITH d AS (DELETE FROM ${table} WHERE provider_id = ANY($1::int[]) RETURNING 1) SELECT count(*)::int AS n FROM d`,
      [ids],
    );
    removed += rows[0]?.n ?? 0;
  }
  await query(url, 'VACUUM ANALYZE oauth2_access_tokens, oauth2_refresh_tokens, oauth2_authorization_codes');
  return removed;
}

/** Active seeded users the codes and refresh tokens are for (claims vary a little between them, as in life). */
async function grantUsers(url: string): Promise<number[]> {
  const rows = await query<{ id: number }>(
    url,
    `SELECT id FROM users WHERE is_active AND type = 'internal' AND username LIKE 'seed-%' ORDER BY id LIMIT 64`,
  );
  if (rows.length === 0) throw new HarnessError('no active seeded user to issue grants for');
  return rows.map((row) => row.id);
}

const randomValue = (bytes: number): string => randomBytes(bytes).toString('hex');

/** Inserts refresh tokens (hashes only) for `client`; answers their values. */
async function insertRefreshTokens(
  url: string,
  client: BenchClient,
  users: number[],
  n: number,
): Promise<string[]> {
  const values = Array.from({ length: n }, () => randomValue(64));
  const userIds = values.map((_, i) => users[i % users.length] ?? users[0]);
  await query(
    url,
    `INSERT INTO oauth2_refresh_tokens
       (provider_id, user_id, scope, auth_time, session_id, family_id, token_hash, id_token, expires, expiring,
        revoked, created)
     SELECT $1, t.user_id, $2, now(), NULL, gen_random_uuid(), t.hash, '{}'::jsonb, now() + interval '30 days', true,
            false, now()
       FROM unnest($3::int[], $4::bytea[]) AS t(user_id, hash)`,
    [client.providerId, CODE_SCOPE, userIds, values.map(sha256)],
  );
  return values;
}

/** Inserts authorization codes (hashes only) as the authorize endpoint would leave them; answers their values. */
async function insertCodes(url: string, client: BenchClient, users: number[], n: number): Promise<string[]> {
  const values = Array.from({ length: n }, () => randomValue(16));
  const userIds = values.map((_, i) => users[i % users.length] ?? users[0]);
  await query(
    url,
    `INSERT INTO oauth2_authorization_codes
       (provider_id, user_id, expires, expiring, revoked, scope, auth_time, session_id, code_hash, nonce, family_id)
     SELECT $1, t.user_id, now() + interval '1 hour', true, false, $2, now(), NULL, t.hash, 'bench-nonce',
            gen_random_uuid()
       FROM unnest($3::int[], $4::bytea[]) AS t(user_id, hash)`,
    [client.providerId, CODE_SCOPE, userIds, values.map(sha256)],
  );
  return values;
}

const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

const basic = (client: BenchClient): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`;

export interface IssueScenario extends ScenarioInfo {
  path: string;
  headers: Record<string, string>;
  /**
   * Bodies for up to `n` requests: the same few cycled (client_credentials, non-rotating refresh, introspection), or
   * `n` single-use ones made in the database for this run (codes, rotating refresh tokens).
   */
  bodies(n: number): Promise<string[]>;
  singleUse: boolean;
  /** Removes what `bodies` made and was not used. */
  discard(): Promise<void>;
  compare(grantry: Fetched, baseline: Fetched): Promise<Comparison>;
}

export interface IssuanceContext {
  url: string;
  fixtures: IssuanceFixtures;
  users: number[];
  /** Refresh tokens of the non-rotating provider, made for this run. */
  refreshTokens: string[];
  /** Public keys of the two providers, to verify what both servers signed. */
  keys: Map<string, { jwk: JWK; alg: string; kid: string }>;
  /** Access tokens Grantry issued (client_credentials), for introspection; filled on first use. */
  introspected: string[];
}

export async function issuanceContext(url: string, fixtures: IssuanceFixtures): Promise<IssuanceContext> {
  await cleanUpIssuance(url, fixtures);
  const users = await grantUsers(url);
  const keys = new Map<string, { jwk: JWK; alg: string; kid: string }>();
  const rows = await query<{ kp_uuid: string; public_jwk: JWK; algorithm: string; kid: string }>(
    url,
    'SELECT kp_uuid, public_jwk, algorithm, kid FROM signing_keys WHERE kp_uuid = ANY($1::uuid[])',
    [[fixtures.main.signingKey, fixtures.refresh.signingKey]],
  );
  for (const row of rows) keys.set(row.kp_uuid, { jwk: row.public_jwk, alg: row.algorithm, kid: row.kid });
  return {
    url,
    fixtures,
    users,
    refreshTokens: await insertRefreshTokens(url, fixtures.refresh, users, POOL),
    keys,
    introspected: [],
  };
}

/** Claims that differ from one issue to the next, or carry the server's own origin. */
const VOLATILE = new Set(['jti', 'uid', 'iat', 'exp', 'auth_time', 'at_hash']);

/**
 * Token answers cannot be byte-identical (fresh tokens, jti, times): compared are the status, the member order,
 * token_type, scope, expires_in, the refresh token's presence and form, and both JWTs: header, claim order and
 * every claim value but the volatile ones (`iss` with each server's origin replaced), each signature verified with
 * the provider's public key.
 */
async function compareTokens(
  context: IssuanceContext,
  client: BenchClient,
  grantry: Fetched & { origin: string },
  baseline: Fetched & { origin: string },
): Promise<Comparison> {
  const result: Comparison = {
    match: false,
    grantryStatus: grantry.status,
    baselineStatus: baseline.status,
    count: undefined,
  };
  const fail = (difference: string): Comparison => ({ ...result, difference });
  if (grantry.status !== 200 || baseline.status !== 200) {
    return grantry.status === baseline.status
      ? fail(
          `both answered ${grantry.status}: ${grantry.body.slice(0, 160)} / ${baseline.body.slice(0, 160)}`,
        )
      : fail(`status ${grantry.status} != ${baseline.status}: ${grantry.body.slice(0, 160)}`);
  }
  const g = JSON.parse(grantry.body) as Record<string, unknown>;
  const b = JSON.parse(baseline.body) as Record<string, unknown>;
  if (Object.keys(g).join(',') !== Object.keys(b).join(','))
    return fail(`members ${Object.keys(g).join(',')} != ${Object.keys(b).join(',')}`);
  for (const key of ['token_type', 'scope', 'expires_in']) {
    if (g[key] !== b[key]) return fail(`$.${key}: ${String(g[key])} != ${String(b[key])}`);
  }
  if (typeof g.refresh_token !== typeof b.refresh_token)
    return fail('refresh_token present in one answer only');
  if (
    typeof g.refresh_token === 'string' &&
    !(/^[A-Za-z0-9]{128}$/.test(g.refresh_token) && /^[A-Za-z0-9]{128}$/.test(String(b.refresh_token)))
  ) {
    return fail('refresh_token is not 128 alphanumerics');
  }
  const key = context.keys.get(client.signingKey);
  if (!key) return fail('the provider signing key was not found');
  const publicKey = await importJWK(key.jwk, key.alg);
  for (const member of ['access_token', 'id_token']) {
    const tokens = [String(g[member]), String(b[member])];
    const headers = tokens.map((token) => JSON.stringify(decodeProtectedHeader(token)));
    if (headers[0] !== headers[1]) return fail(`${member} header ${headers[0]} != ${headers[1]}`);
    for (const [i, token] of tokens.entries()) {
      try {
        await jwtVerify(token, publicKey);
      } catch (error) {
        return fail(`${i === 0 ? 'Grantry' : 'baseline'} ${member} does not verify: ${String(error)}`);
      }
    }
    const [gc, bc] = tokens.map((token) => decodeJwt(token));
    if (!gc || !bc) return fail(`${member} does not decode`);
    if (Object.keys(gc).join(',') !== Object.keys(bc).join(','))
      return fail(`${member} claims ${Object.keys(gc).join(',')} != ${Object.keys(bc).join(',')}`);
    for (const claim of Object.keys(gc)) {
      if (VOLATILE.has(claim)) continue;
      let gv = JSON.stringify(gc[claim]);
      let bv = JSON.stringify(bc[claim]);
      if (claim === 'iss') {
        gv = gv.replace(grantry.origin, '<origin>');
        bv = bv.replace(baseline.origin, '<origin>');
      }
      if (gv !== bv) return fail(`${member}.${claim}: ${gv} != ${bv}`);
    }
  }
  return { ...result, match: true };
}

export async function post(server: Server, pathname: string, body: string, headers: Record<string, string>) {
  const response = await fetch(`${server.url}${pathname}`, {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.timeout(120_000),
  });
  return { status: response.status, body: await response.text(), origin: server.url };
}

/** Access tokens from Grantry's client_credentials grant, to introspect (made once per run, 8 at a time). */
async function tokensToIntrospect(context: IssuanceContext, grantry: Server): Promise<string[]> {
  if (context.introspected.length > 0) return context.introspected;
  const { main } = context.fixtures;
  const body = form({
    grant_type: 'client_credentials',
    client_id: main.clientId,
    client_secret: main.clientSecret,
    scope: 'openid profile email',
  });
  const tokens: string[] = [];
  while (tokens.length < POOL) {
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(grantry, TOKEN_PATH, body, FORM)));
    for (const answer of answers) {
      if (answer.status !== 200)
        throw new HarnessError(`client_credentials answered ${answer.status}: ${answer.body}`);
      tokens.push(String((JSON.parse(answer.body) as { access_token: string }).access_token));
    }
  }
  context.introspected = tokens;
  return tokens;
}

export const ISSUE_TARGET = 0.5;

export const ISSUE_SCENARIO_NAMES = [
  'issue: client_credentials',
  'issue: refresh',
  'issue: refresh (rotating)',
  'issue: code exchange',
  'issue: introspection',
];

/** Read scenarios measured again with client_credentials alongside. */
export const MIXED_READS = ['access: list page 1', 'access: retrieve'];

export function mixedName(read: string, background: boolean): string {
  return `issue: mixed: ${read} (${background ? '+ client_credentials alongside' : 'reads alone'})`;
}

export function clientCredentialsBody(fixtures: IssuanceFixtures): string {
  return form({
    grant_type: 'client_credentials',
    client_id: fixtures.main.clientId,
    client_secret: fixtures.main.clientSecret,
    scope: 'openid profile email',
  });
}

export function buildIssueScenarios(context: IssuanceContext, grantry: Server): IssueScenario[] {
  const { url, fixtures, users } = context;
  const { main, refresh } = fixtures;
  const token = (
    name: string,
    client: BenchClient,
    note: string,
    bodies: (n: number) => Promise<string[]>,
    singleUse: boolean,
    discard: () => Promise<void> = () => Promise.resolve(),
  ): IssueScenario => ({
    name: `issue: ${name}`,
    paths: [TOKEN_PATH],
    target: ISSUE_TARGET,
    load: true,
    note,
    path: TOKEN_PATH,
    headers: FORM,
    bodies,
    singleUse,
    discard,
    compare: (g, b) =>
      compareTokens(context, client, g as Fetched & { origin: string }, b as Fetched & { origin: string }),
  });
  const codeBody = (code: string): string =>
    form({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      client_id: main.clientId,
      client_secret: main.clientSecret,
    });
  const refreshBody = (client: BenchClient, value: string): string =>
    form({
      grant_type: 'refresh_token',
      refresh_token: value,
      client_id: client.clientId,
      client_secret: client.clientSecret,
    });
  return [
    token(
      'client_credentials',
      main,
      `provider secret, scope "openid profile email": the service account read (its last_login written at most once a minute), claims, group bindings, two ` +
        `RS256 signatures, one INSERT; the same body every time`,
      () => Promise.resolve([clientCredentialsBody(fixtures)]),
      false,
    ),
    token(
      'refresh',
      refresh,
      `refresh_token_threshold days=1, tokens valid 30 days, so no rotation: SELECT ... FOR UPDATE, claims, two ` +
        `signatures, one INSERT; ${POOL} refresh tokens of ${Math.min(POOL, users.length)} users used in turn ` +
        `(16 connections on one token would only measure its row lock)`,
      () => Promise.resolve(context.refreshTokens.map((value) => refreshBody(refresh, value))),
      false,
    ),
    token(
      'refresh (rotating)',
      main,
      'refresh_token_threshold seconds=0 (the default): every refresh revokes its token and issues a new one, so ' +
        'each request gets a fresh token made for the run (single use)',
      async (n) => (await insertRefreshTokens(url, main, users, n)).map((value) => refreshBody(main, value)),
      true,
      async () => {
        await query(url, 'DELETE FROM oauth2_refresh_tokens WHERE provider_id = $1', [main.providerId]);
      },
    ),
    token(
      'code exchange',
      main,
      `scope "${CODE_SCOPE}": SELECT ... FOR UPDATE of the code, claims, two signatures, access and refresh ` +
        'token INSERTed, code DELETEd, redemption INSERTed; each request a fresh code inserted for the run',
      async (n) => (await insertCodes(url, main, users, n)).map(codeBody),
      true,
      async () => {
        await query(url, 'DELETE FROM oauth2_authorization_codes WHERE provider_id = $1', [main.providerId]);
      },
    ),
    {
      name: 'issue: introspection',
      paths: [INTROSPECT_PATH],
      target: ISSUE_TARGET,
      load: true,
      note: `HTTP Basic client authentication, ${POOL} access tokens (client_credentials) introspected in turn`,
      path: INTROSPECT_PATH,
      headers: { ...FORM, authorization: basic(main) },
      bodies: async () => (await tokensToIntrospect(context, grantry)).map((value) => form({ token: value })),
      singleUse: false,
      discard: () => Promise.resolve(),
      compare: (g, b) => Promise.resolve(compare(g, b)),
    },
  ];
}

export interface IssueLoadOptions {
  connections: number;
  duration: number;
  warmup: number;
  databaseUrl: string;
}

function loadRequest(
  server: Server,
  scenario: IssueScenario,
  bodies: string[],
  connections: number,
  duration: number,
): LoadRequest {
  return {
    url: server.url,
    paths: [scenario.path],
    headers: scenario.headers,
    connections,
    duration,
    timeout: 60,
    method: 'POST',
    bodies,
    singleUse: scenario.singleUse,
    // Answered invalid_grant at once by both servers (no code: no SQL), so not counted.
    exhaustedBody: form({ grant_type: 'authorization_code', code: '' }),
  };
}

async function oneLoad(
  server: Server,
  scenario: IssueScenario,
  options: IssueLoadOptions,
  seconds: number,
): Promise<LoadResult> {
  const bodies = await scenario.bodies(Math.ceil(seconds * MAX_RATE) + options.connections * 4);
  try {
    const result = await forkOnce<LoadRequest, LoadResult>(
      LOAD_SCRIPT,
      loadRequest(server, scenario, bodies, options.connections, seconds),
      seconds * 1000 + 90_000,
    );
    await drain(options.databaseUrl);
    if (result.exhausted) {
      throw new HarnessError(
        `${server.name} used all ${bodies.length} single-use bodies before the end of the run; raise MAX_RATE`,
      );
    }
    return result;
  } finally {
    await scenario.discard();
  }
}

/** Warm-up (discarded) then the measured run, as loadRun does for reads, with the scenario's POST bodies. */
export async function issueLoadRun(
  server: Server,
  scenario: IssueScenario,
  options: IssueLoadOptions,
  onSample?: () => void,
): Promise<LoadResult> {
  const sampler = onSample ? setInterval(onSample, 200) : undefined;
  try {
    if (options.warmup > 0) await oneLoad(server, scenario, options, options.warmup);
    return await oneLoad(server, scenario, options, options.duration);
  } finally {
    if (sampler) clearInterval(sampler);
  }
}

/** SQL statements per request and the mean latency alone: sequential POSTs, as statementsPerRequest does for reads. */
export async function issueStatements(
  server: Server,
  counter: QueryCounter,
  scenario: IssueScenario,
): Promise<{ perRequest: number; meanMs: number }> {
  const bodies = await scenario.bodies(52);
  try {
    return await statementsPerCall(
      counter,
      async (i) => {
        const answer = await post(server, scenario.path, bodies[i % bodies.length] ?? '', scenario.headers);
        if (answer.status !== 200)
          throw new HarnessError(`${server.name} answered ${answer.status}: ${answer.body.slice(0, 200)}`);
      },
      { maxRequests: 50, minRequests: 5, budgetMs: 3000 },
    );
  } finally {
    await scenario.discard();
  }
}

/** One request to each server with the scenario's first body(ies), compared. */
export async function issueCompare(
  grantry: Server,
  baseline: Server,
  scenario: IssueScenario,
): Promise<Comparison> {
  try {
    const first = (await scenario.bodies(1))[0] ?? '';
    // A single-use body goes to one server only: the other gets one made alike (the first of a batch is always for
    // the same user).
    const second = scenario.singleUse ? ((await scenario.bodies(1))[0] ?? '') : first;
    return await scenario.compare(
      await post(grantry, scenario.path, first, scenario.headers),
      await post(baseline, scenario.path, second, scenario.headers),
    );
  } finally {
    await scenario.discard();
  }
}

/**
 * A fixed-rate client_credentials load on `server` (2 connections, `rate` requests/s) for as long as `measure`
 * takes; answers what `measure` answered and what the background achieved.
 */
export async function withBackground<T>(
  server: Server,
  fixtures: IssuanceFixtures,
  rate: number,
  measure: () => Promise<T>,
): Promise<{ value: T; background: LoadResult }> {
  const background = forkControlled<LoadRequest, LoadResult>(
    LOAD_SCRIPT,
    {
      url: server.url,
      paths: [TOKEN_PATH],
      headers: FORM,
      connections: 2,
      duration: 3600,
      timeout: 60,
      method: 'POST',
      bodies: [clientCredentialsBody(fixtures)],
      rate,
    },
    3_700_000,
  );
  let value: T;
  try {
    await sleep(1000);
    value = await measure();
  } catch (error) {
    background.stop();
    await background.result.catch(() => undefined);
    throw error;
  }
  background.stop();
  return { value, background: await background.result };
}
