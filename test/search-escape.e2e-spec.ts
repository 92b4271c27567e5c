/**
 * `%` and `_` in a search term are literal characters, on every grant list: an oracle written by hand, in a database
 * of this suite's own (so the whole table is known), with a user whose name holds both. Without the escaping in
 * likePattern, `%` and `_` would be LIKE wildcards and each search below would also match `axbyc` (checked against
 * PostgreSQL itself in the first test, so the oracle is known to tell the two apart).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { bearer, request } from './support/app';
import { Factories } from './support/factories';
import { ScratchDatabases } from './support/scratch-database';

const TYPES = [
  { path: '/api/v3/oauth2/access_tokens/', table: 'oauth2_access_tokens', hash: 'token_hash' },
  { path: '/api/v3/oauth2/refresh_tokens/', table: 'oauth2_refresh_tokens', hash: 'token_hash' },
  { path: '/api/v3/oauth2/authorization_codes/', table: 'oauth2_authorization_codes', hash: 'code_hash' },
] as const;

const scratch = new ScratchDatabases('grantry_search_escape');
let app: NestFastifyApplication;
let dataSource: DataSource;
let adminKey: string;
/** The grant of each user, per table. */
const grants: Record<string, { percent: number; plain: number }> = {};

beforeAll(async () => {
  ({ app, dataSource } = await scratch.createApp());

  const f = new Factories(dataSource);
  const admins = await f.group({ isSuperuser: true, name: 'admins' });
  const admin = await f.user({ username: 'root', name: 'Root', email: 'root@example.org' });
  await f.member(admin, admins);
  adminKey = await f.apiKey(admin);
  const percent = await f.user({ username: 'a%b_c', name: 'Percent', email: 'percent@example.org' });
  const plain = await f.user({ username: 'axbyc', name: 'Plain', email: 'plain@example.org' });
  const provider = await f.provider('Provider');
  // Names, client id and application slug free of % and _, so only the users can match.
  await dataSource.query(`UPDATE oauth2_providers SET client_id = 'clientone' WHERE id = $1`, [provider.id]);
  await dataSource.query(`INSERT INTO applications (slug, name, provider_id) VALUES ('app', 'App', $1)`, [
    provider.id,
  ]);
  for (const type of TYPES) {
    const insert = async (userId: number): Promise<number> => {
      const [row] = await dataSource.query<{ id: number }[]>(
        `INSERT INTO ${type.table} (provider_id, user_id, ${type.hash}, scope, expires)
         VALUES ($1, $2, $3, 'openid', now() + interval '1 day') RETURNING id`,
        [provider.id, userId, createHash('sha256').update(randomBytes(32)).digest()],
      );
      return row?.id ?? 0;
    };
    grants[type.table] = { percent: await insert(percent.id), plain: await insert(plain.id) };
  }
});

afterAll(async () => {
  await app?.close();
  await scratch.dropAll();
});

it('the oracle tells escaped from unescaped: as LIKE wildcards, each term also matches axbyc', async () => {
  const [row] = await dataSource.query<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM users
      WHERE username ILIKE '%' || '%b_' || '%' AND username ILIKE '%' || 'a%' || '%'
        AND username ILIKE '%' || '_' || '%' AND username IN ('a%b_c', 'axbyc')`,
  );
  expect(row?.n).toBe(2);
});

describe.each(TYPES)('$path', (type) => {
  it.each([
    ['%25b_', 'percent'],
    ['a%25', 'percent'],
    ['_', 'percent'],
    ['%25', 'percent'],
    ['b_c', 'percent'],
    ['xby', 'plain'],
    ['A%25B_C', 'percent'],
    ['a_b', 'none'],
    ['a%25b%25c', 'none'],
  ] as const)('search=%s finds exactly the grants of %s', async (term, who) => {
    const response = await request(app, 'GET', `${type.path}?search=${term}`, bearer(adminKey));
    expect(response.status).toBe(200);
    const body = response.body as { pagination: { count: number }; results: { pk: number }[] };
    const mine = grants[type.table];
    const expected = who === 'none' ? [] : [who === 'percent' ? mine?.percent : mine?.plain];
    expect({ count: body.pagination.count, pks: body.results.map((grant) => grant.pk) }).toEqual({
      count: expected.length,
      pks: expected,
    });
  });
});
