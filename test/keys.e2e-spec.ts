/**
 * Signing keys (issue 12, first slice): every provider has a key pair sealed with SECRET_KEY, JWKS serves the public
 * halves at /application/o/<slug>/jwks/, and SECRET_KEY is generated, reused and checked against the database.
 *
 * The in-process part runs on the shared test database with TEST_SECRET_KEY (the key CLI runs of other suites use
 * too). The process part starts the built server on databases of its own, as the key check is one row per database.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { DataSource } from 'typeorm';
import { Sealer, UnsealError } from '../src/keys/sealing';
import { SECRET_KEY_FILE } from '../src/keys/secret-key';
import { SECRET_KEY_MISMATCH } from './support/messages';
import { SigningKeyEntity } from '../src/keys/signing-key.entity';
import { loadSigningKey, signJwt } from '../src/keys/signing-keys';
import { ensureProviderSigningKeys } from '../src/keys/startup';
import { OAuth2ProviderEntity } from '../src/providers/oauth2-provider.entity';
import { createApplication, createProvider } from '../src/providers/providers';
import { bearer, createTestApp, request, type TestApp, testDatabaseUrl, testSealer } from './support/app';
import { ScratchDatabases } from './support/scratch-database';
import { openDataSource } from './support/database';
import { GrantFactories, unique } from './support/factories';
import { scratchDir, type ServerProcess, startServer } from './support/server-process';

const NOT_FOUND = { detail: 'Not found.' };
const OTHER_KEY = '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';
const MISMATCH = `Invalid configuration: SECRET_KEY ${SECRET_KEY_MISMATCH}\n`;
const CLI = path.resolve(__dirname, '..', 'dist', 'src', 'cli', 'main.js');

/** Private key material in any form: PEM, or a JWK's private members. */
const PRIVATE_MATERIAL = /PRIVATE KEY|"(d|p|q|dp|dq|qi)"\s*:/;

async function providerWithApp(
  t: TestApp,
  algorithm: 'RS256' | 'ES256' | undefined,
): Promise<{ provider: OAuth2ProviderEntity; slug: string }> {
  const { provider } = await createProvider(
    t.dataSource.manager,
    { name: unique('keys'), signingAlgorithm: algorithm },
    testSealer(),
  );
  const slug = unique('jwks').slice(0, 50);
  await createApplication(t.dataSource.manager, { slug, name: slug, providerId: provider.id });
  return { provider, slug };
}

async function keyRow(dataSource: DataSource, kpUuid: string | null): Promise<SigningKeyEntity> {
  const row = await dataSource.manager.findOneBy(SigningKeyEntity, { kpUuid: kpUuid ?? '' });
  if (!row) throw new Error(`no signing key ${kpUuid}`);
  return row;
}

describe('signing keys and JWKS (in process)', () => {
  let t: TestApp;
  let f: GrantFactories;
  let base: string;

  beforeAll(async () => {
    t = await createTestApp({}, true);
    f = new GrantFactories(t.dataSource);
    const address = t.app.getHttpServer().address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(() => t.close());

  it('serves an RS256 provider\'s key as authentik does, public, with CORS "*" and a short cache', async () => {
    const { provider, slug } = await providerWithApp(t, undefined);
    const key = await keyRow(t.dataSource, provider.signingKey);
    expect(key.algorithm).toBe('RS256');
    const jwk = key.publicJwk;
    if (jwk.kty !== 'RSA') throw new Error('expected an RSA key');
    for (const url of [`/application/o/${slug}/jwks/`, `/application/o/${slug}/jwks`]) {
      const response = await request(t.app, 'GET', url);
      expect({ status: response.status, body: response.body }).toEqual({
        status: 200,
        body: { keys: [{ kty: 'RSA', alg: 'RS256', use: 'sig', kid: key.kid, n: jwk.n, e: 'AQAB' }] },
      });
      expect(response.headers['access-control-allow-origin']).toBe('*');
      expect(response.headers['cache-control']).toBe('public, max-age=60');
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    }
    // Member order as authentik's JWKSView writes it.
    const text = (await request(t.app, 'GET', `/application/o/${slug}/jwks/`)).text;
    expect(Object.keys((JSON.parse(text) as { keys: object[] }).keys[0] ?? {})).toEqual([
      'kty',
      'alg',
      'use',
      'kid',
      'n',
      'e',
    ]);
  });

  it("serves an ES256 provider's key with crv, x and y", async () => {
    const { provider, slug } = await providerWithApp(t, 'ES256');
    const key = await keyRow(t.dataSource, provider.signingKey);
    const jwk = key.publicJwk;
    if (jwk.kty !== 'EC') throw new Error('expected an EC key');
    const response = await request(t.app, 'GET', `/application/o/${slug}/jwks/`);
    expect({ status: response.status, body: response.body }).toEqual({
      status: 200,
      body: {
        keys: [{ kty: 'EC', alg: 'ES256', use: 'sig', kid: key.kid, x: jwk.x, y: jwk.y, crv: 'P-256' }],
      },
    });
    expect(response.headers['access-control-allow-origin']).toBe('*');
  });

  it('answers 404 {"detail": "Not found."} for an unknown slug and for an application without a provider', async () => {
    const bare = await f.application({ providerId: null });
    for (const url of [
      '/application/o/no-such-application/jwks/',
      `/application/o/${bare.slug}/jwks/`,
      `/application/o/${'x'.repeat(60)}/jwks/`,
      '/application/o/a%00b/jwks/',
      '/application/o/%ff/jwks/',
      '/application/o/a%2Fb/jwks/',
    ]) {
      const response = await request(t.app, 'GET', url);
      expect({ url, status: response.status, body: response.body }).toEqual({
        url,
        status: 404,
        body: NOT_FOUND,
      });
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
      expect(response.headers['cache-control']).toBe('no-store');
    }
    // Not under the API prefix, and not behind authentication.
    const { slug } = await providerWithApp(t, 'ES256');
    expect((await request(t.app, 'GET', `/api/v3/application/o/${slug}/jwks/`)).status).toBe(404);
    const withBadKey = await request(t.app, 'GET', `/application/o/${slug}/jwks/`, bearer('not-a-key'));
    expect(withBadKey.status).toBe(200);
  });

  it('answers {} for a provider that has no key yet, as authentik does for one without a signing key', async () => {
    const provider = await f.provider();
    const app = await f.application({ providerId: provider.id });
    const response = await request(t.app, 'GET', `/application/o/${app.slug}/jwks/`);
    expect({ status: response.status, body: response.body }).toEqual({ status: 200, body: {} });
  });

  it.each(['RS256', 'ES256'] as const)(
    '%s: a JWT signed through signJwt verifies with jose against the served JWKS',
    async (algorithm) => {
      const { provider, slug } = await providerWithApp(t, algorithm);
      const key = await loadSigningKey(t.dataSource.manager, testSealer(), provider.signingKey ?? '');
      if (!key) throw new Error('the provider has no key');
      const issuer = `${base}/application/o/${slug}/`;
      const jwt = await signJwt(key, {
        iss: issuer,
        aud: provider.clientId,
        sub: 'alice',
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 60,
      });
      expect(decodeProtectedHeader(jwt)).toEqual({ alg: algorithm, kid: key.kid, typ: 'JWT' });
      const jwks = createRemoteJWKSet(new URL(`${base}/application/o/${slug}/jwks/`));
      const { payload, protectedHeader } = await jwtVerify(jwt, jwks, {
        issuer,
        audience: provider.clientId,
        algorithms: [algorithm],
      });
      expect(payload.sub).toBe('alice');
      expect(protectedHeader.kid).toBe(key.kid);
      // Another provider's JWKS does not verify it.
      const other = await providerWithApp(t, algorithm);
      await expect(
        jwtVerify(jwt, createRemoteJWKSet(new URL(`${base}/application/o/${other.slug}/jwks/`))),
      ).rejects.toThrow('no applicable key found in the JSON Web Key Set');
    },
  );

  it('keeps the private key sealed: another SECRET_KEY or another row cannot open it', async () => {
    const a = await providerWithApp(t, 'ES256');
    const b = await providerWithApp(t, 'ES256');
    await expect(
      loadSigningKey(t.dataSource.manager, new Sealer(OTHER_KEY), a.provider.signingKey ?? ''),
    ).rejects.toThrow(UnsealError);
    // A's sealed key copied into B's row does not open there (the row's kp_uuid is the associated data).
    await t.dataSource.query(
      `UPDATE signing_keys SET private_key_sealed = (SELECT private_key_sealed FROM signing_keys WHERE kp_uuid = $1)
        WHERE kp_uuid = $2`,
      [a.provider.signingKey, b.provider.signingKey],
    );
    await expect(
      loadSigningKey(t.dataSource.manager, testSealer(), b.provider.signingKey ?? ''),
    ).rejects.toThrow(new UnsealError('wrong key, wrong row, or altered'));
    expect(
      await loadSigningKey(t.dataSource.manager, testSealer(), a.provider.signingKey ?? ''),
    ).not.toBeNull();
  });

  it('gives providers without a key one, once, even when two instances do it at the same time', async () => {
    const before = [await f.provider(), await f.provider(), await f.provider()];
    const keysBefore = Number(
      (await t.dataSource.query<{ n: string }[]>('SELECT count(*) AS n FROM signing_keys'))[0]?.n,
    );
    const missingBefore = Number(
      (
        await t.dataSource.query<{ n: string }[]>(
          'SELECT count(*) AS n FROM oauth2_providers WHERE signing_key IS NULL',
        )
      )[0]?.n,
    );
    const other = await openDataSource(testDatabaseUrl(), 'keys-second-instance', 2);
    try {
      const created = await Promise.all([
        ensureProviderSigningKeys(t.dataSource.manager, testSealer(), 'ES256'),
        ensureProviderSigningKeys(other.manager, testSealer(), 'ES256'),
      ]);
      expect(created.sort()).toEqual([0, missingBefore]);
    } finally {
      await other.destroy();
    }
    const keysAfter = Number(
      (await t.dataSource.query<{ n: string }[]>('SELECT count(*) AS n FROM signing_keys'))[0]?.n,
    );
    expect(keysAfter - keysBefore).toBe(missingBefore);
    for (const provider of before) {
      const reloaded = await t.dataSource.manager.findOneByOrFail(OAuth2ProviderEntity, { id: provider.id });
      expect(reloaded.signingKey).not.toBeNull();
      const key = await loadSigningKey(t.dataSource.manager, testSealer(), reloaded.signingKey ?? '');
      expect(key?.algorithm).toBe('ES256');
    }
    expect(await ensureProviderSigningKeys(t.dataSource.manager, testSealer())).toBe(0);
  });

  it('shows the key pair id in token listings, and private key material nowhere (responses, logs)', async () => {
    const admins = await f.group({ isSuperuser: true });
    const admin = await f.user();
    await f.member(admin, admins);
    const adminKey = await f.apiKey(admin);
    const { provider, slug } = await providerWithApp(t, 'RS256');
    await f.accessToken(admin, { provider });
    const list = await request(
      t.app,
      'GET',
      `/api/v3/oauth2/access_tokens/?provider=${provider.id}`,
      bearer(adminKey),
    );
    expect(list.status).toBe(200);
    const results = (list.body as { results: { provider: { signing_key: string | null } }[] }).results;
    expect(results.map((row) => row.provider.signing_key)).toEqual([provider.signingKey]);
    const jwks = await request(t.app, 'GET', `/application/o/${slug}/jwks/`);
    for (const text of [list.text, jwks.text, t.logs.text]) expect(text).not.toMatch(PRIVATE_MATERIAL);
    // The row itself holds no plaintext PKCS#8 either: the sealed bytes do not open without SECRET_KEY.
    const [row] = await t.dataSource.query<{ private_key_sealed: Buffer }[]>(
      'SELECT private_key_sealed FROM signing_keys WHERE kp_uuid = $1',
      [provider.signingKey],
    );
    expect(row?.private_key_sealed.toString('latin1')).not.toMatch(/PRIVATE KEY/);
    expect(row?.private_key_sealed[0]).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The built server and CLI, each scenario on a database of its own.

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the server expecting it to fail before "ready"; returns how it exited. */
async function failingStart(env: Record<string, string>): Promise<Exit> {
  try {
    const server = await startServer(env);
    server.child.kill('SIGTERM');
    await server.exited;
    throw new Error('the server started');
  } catch (error) {
    const message = (error as Error).message;
    if (message === 'the server started') throw error;
    const match = /^server exited \((\d+)\) before ready:\n([\s\S]*)$/.exec(message);
    if (!match) throw error;
    return { code: Number(match[1]), stdout: '', stderr: match[2] ?? '' };
  }
}

function runCli(args: string[], env: Record<string, string>): Promise<Exit> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH ?? '', ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

async function stop(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  expect((await server.exited).code).toBe(0);
}

describe('SECRET_KEY (server process and CLI)', () => {
  const databases = new ScratchDatabases('grantry_keys');
  /** A new, empty database on the test cluster; the server migrates it. */
  const freshDatabase = (): Promise<string> => databases.create();
  afterAll(() => databases.dropAll());

  it('generates SECRET_KEY into DATA_DIR (0600) when unset, logs only where, reuses it, and fills in missing keys', async () => {
    const databaseUrl = await freshDatabase();
    const dataDir = scratchDir('grantry-keys');
    const env = { DATABASE_URL: databaseUrl, DATA_DIR: dataDir, HOST: '127.0.0.1' };
    const first = await startServer(env);
    const file = path.join(dataDir, SECRET_KEY_FILE);
    const key = fs.readFileSync(file, 'utf8');
    expect(key).toMatch(/^[0-9a-f]{64}\n$/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    // No temporary file left behind (initial-admin-key is the first start's admin key: a fresh database).
    expect(fs.readdirSync(dataDir).sort()).toEqual(['initial-admin-key', SECRET_KEY_FILE]);
    const firstLog = first.stdout.join('');
    expect(firstLog).toContain('SECRET_KEY is not set, so one was generated into this file (mode 0600)');
    expect(firstLog).toContain('stored the SECRET_KEY check value');
    expect(firstLog).not.toContain(key.trim());
    await stop(first);

    // A provider from before key pairs existed (no signing key), with an application.
    const db = await openDataSource(databaseUrl, 'keys-test', 1);
    let slug: string;
    try {
      const [provider] = await db.query<{ id: number }[]>(
        `INSERT INTO oauth2_providers (name, client_id) VALUES ('legacy', 'legacy-client') RETURNING id`,
      );
      slug = 'legacy-app';
      await db.query(`INSERT INTO applications (slug, name, provider_id) VALUES ($1, 'Legacy', $2)`, [
        slug,
        provider?.id,
      ]);
    } finally {
      await db.destroy();
    }

    const second = await startServer(env);
    try {
      expect(fs.readFileSync(file, 'utf8')).toBe(key);
      const secondLog = second.stdout.join('');
      expect(secondLog).not.toContain('generated');
      expect(secondLog).toContain('created signing keys for providers without one');
      const response = await fetch(`${second.url}/application/o/${slug}/jwks/`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { keys: { kty: string; alg: string }[] };
      expect(body.keys.map((k) => [k.kty, k.alg])).toEqual([['RSA', 'RS256']]);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      const unknown = await fetch(`${second.url}/application/o/unknown/jwks/`);
      expect({ status: unknown.status, body: await unknown.json() }).toEqual({
        status: 404,
        body: NOT_FOUND,
      });
    } finally {
      await stop(second);
    }
    for (const log of [second.stdout.join(''), second.stderr.join(''), first.stderr.join('')]) {
      expect(log).not.toMatch(PRIVATE_MATERIAL);
      expect(log).not.toContain(key.trim());
    }

    // SECRET_KEY_FILE with the same key, and no DATA_DIR key: starts, and generates nothing.
    const keyFile = path.join(scratchDir('grantry-keys-secret'), 'key');
    fs.writeFileSync(keyFile, key, { mode: 0o600 });
    const otherDir = scratchDir('grantry-keys');
    const third = await startServer({
      DATABASE_URL: databaseUrl,
      DATA_DIR: otherDir,
      SECRET_KEY_FILE: keyFile,
    });
    await stop(third);
    expect(fs.readdirSync(otherDir)).toEqual([]);

    // A lost key (a fresh DATA_DIR generates another one) or a different SECRET_KEY: refused, exit 2, one line.
    for (const refused of <Record<string, string>[]>[
      { DATABASE_URL: databaseUrl, DATA_DIR: scratchDir('grantry-keys') },
      { DATABASE_URL: databaseUrl, DATA_DIR: otherDir, SECRET_KEY: OTHER_KEY },
    ]) {
      const exit = await failingStart(refused);
      expect(exit.code).toBe(2);
      expect(exit.stderr.endsWith(MISMATCH)).toBe(true);
      expect(exit.stderr).not.toContain(OTHER_KEY);
    }
  });

  it('with RUN_MIGRATIONS=false, checks SECRET_KEY once the migrations are applied, and exits 2 on a mismatch', async () => {
    const databaseUrl = await freshDatabase();
    const dataDir = scratchDir('grantry-keys');
    const created = await runCli(['provider', 'create', '--name', 'sealed-with-other', '--json'], {
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
      SECRET_KEY: OTHER_KEY,
    });
    expect(created.code).toBe(0);
    // The deploy's migration step has not run yet, as far as the server can tell.
    const db = await openDataSource(databaseUrl, 'keys-test', 1);
    try {
      const [migration] = await db.query<{ id: number; timestamp: string; name: string }[]>(
        `SELECT id, timestamp, name FROM migrations WHERE name = 'SigningKeys1764520000000'`,
      );
      await db.query('DELETE FROM migrations WHERE id = $1', [migration?.id]);
      const server = await startServer({
        DATABASE_URL: databaseUrl,
        // A DATA_DIR of its own: a key generated there, not the one the CLI sealed with.
        DATA_DIR: scratchDir('grantry-keys'),
        RUN_MIGRATIONS: 'false',
      });
      try {
        expect((await fetch(`${server.url}/-/health/ready/`)).status).toBe(503);
        await db.query('INSERT INTO migrations (id, timestamp, name) VALUES ($1, $2, $3)', [
          migration?.id,
          migration?.timestamp,
          migration?.name,
        ]);
        expect((await server.exited).code).toBe(2);
        expect(server.stderr.join('').endsWith(MISMATCH)).toBe(true);
      } finally {
        server.child.kill('SIGKILL');
      }
    } finally {
      await db.destroy();
    }
  });

  it('processes generating SECRET_KEY into one DATA_DIR at the same time all end up with the same key', async () => {
    const dataDir = scratchDir('grantry-keys-race');
    const module = path.resolve(__dirname, '..', 'dist', 'src', 'keys', 'secret-key.js');
    const script =
      `const { createHash } = require('node:crypto');` +
      `const key = require(${JSON.stringify(module)}).resolveSecretKey(` +
      `{ secretKey: undefined, dataDir: ${JSON.stringify(dataDir)} }, { info() {}, warn() {} });` +
      `process.stdout.write(createHash('sha256').update(key).digest('hex'));`;
    const runs = await Promise.all(
      Array.from(
        { length: 6 },
        () =>
          new Promise<Exit>((resolve) => {
            execFile(process.execPath, ['-e', script], (error, stdout, stderr) =>
              resolve({ code: error ? 1 : 0, stdout, stderr }),
            );
          }),
      ),
    );
    const key = fs.readFileSync(path.join(dataDir, SECRET_KEY_FILE), 'utf8').trim();
    const expected = createHash('sha256').update(key).digest('hex');
    expect(runs).toEqual(runs.map(() => ({ code: 0, stdout: expected, stderr: '' })));
    expect(fs.readdirSync(dataDir)).toEqual([SECRET_KEY_FILE]);
  });

  it('the CLI checks SECRET_KEY before creating a provider, whose key it seals with it', async () => {
    const databaseUrl = await freshDatabase();
    const dataDir = scratchDir('grantry-keys');
    const env = { DATABASE_URL: databaseUrl, DATA_DIR: dataDir, SECRET_KEY: OTHER_KEY };
    const created = await runCli(
      ['provider', 'create', '--name', 'grafana', '--signing-algorithm', 'ES256', '--json'],
      env,
    );
    expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: '' });
    const db = await openDataSource(databaseUrl, 'keys-test', 1);
    try {
      const [row] = await db.query<{ algorithm: string }[]>(
        `SELECT k.algorithm FROM oauth2_providers p JOIN signing_keys k ON k.kp_uuid = p.signing_key
          WHERE p.name = 'grafana'`,
      );
      expect(row).toEqual({ algorithm: 'ES256' });
      const key = await loadSigningKey(
        db.manager,
        new Sealer(OTHER_KEY),
        (await db.query<{ signing_key: string }[]>(`SELECT signing_key FROM oauth2_providers`))[0]
          ?.signing_key ?? '',
      );
      expect(key?.algorithm).toBe('ES256');
    } finally {
      await db.destroy();
    }
    expect(created.stdout).not.toMatch(PRIVATE_MATERIAL);
    const defaulted = await runCli(['provider', 'create', '--name', 'wiki', '--json'], env);
    expect(defaulted.code).toBe(0);

    const refused = await runCli(['provider', 'create', '--name', 'other', '--json'], {
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
    });
    expect(refused).toEqual({
      code: 2,
      stdout: '',
      stderr: `${JSON.stringify({ error: MISMATCH.trimEnd() })}\n`,
    });
    const badAlgorithm = await runCli(
      ['provider', 'create', '--name', 'x', '--signing-algorithm', 'HS256'],
      env,
    );
    expect(badAlgorithm).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: option --signing-algorithm must be one of RS256, ES256, got "HS256"\n',
    });
  });
});
