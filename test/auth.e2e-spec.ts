import { sha256 } from '../src/common/crypto/secrets';
import type { UserEntity } from '../src/identity/user.entity';
import { bearer, createTestApp, request, type TestApp } from './support/app';
import { Factories } from './support/factories';

const WHOAMI = '/api/v3/grantry/whoami/';
const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' };
const INVALID = { detail: 'Token invalid/expired' };
const HOUR = 3600_000;

describe('bearer authentication (authentik rules)', () => {
  let t: TestApp;
  let f: Factories;
  let alice: UserEntity;
  let aliceKey: string;
  const keys: string[] = [];

  beforeAll(async () => {
    t = await createTestApp();
    f = new Factories(t.dataSource);
    alice = await f.user();
    aliceKey = await f.apiKey(alice);
    keys.push(aliceKey);
  });
  afterAll(() => t.close());

  async function expectRejected(headers: Record<string, string>, body: unknown): Promise<void> {
    const response = await request(t.app, 'GET', WHOAMI, headers);
    expect(response.status).toBe(403);
    expect(response.body).toEqual(body);
    expect(response.headers['www-authenticate']).toBeUndefined();
  }

  it('concurrent requests with different keys each authenticate as their own key', async () => {
    // (No invalid keys among them: they would count against the failed-auth throttle the other tests assert.)
    const users = [alice, await f.user(), await f.user()];
    const userKeys = await Promise.all(users.map((user) => f.apiKey(user)));
    const sent = Array.from({ length: 60 }, (_, i) => i % 3);
    const answers = await Promise.all(
      sent.map((index) => request(t.app, 'GET', WHOAMI, bearer(userKeys[index] ?? ''))),
    );
    expect(answers.map((answer) => [answer.status, (answer.body as { pk?: number }).pk])).toEqual(
      sent.map((index) => [200, users[index]?.id]),
    );
  });

  describe('no credentials -> 403 "not provided"', () => {
    it.each([
      ['no Authorization header', {}],
      ['an empty header', { authorization: '' }],
      ['the scheme alone', { authorization: 'Bearer' }],
      ['Basic credentials', { authorization: 'Basic dXNlcjpwYXNz' }],
      ['another scheme', { authorization: 'Token abcdef' }],
    ])('%s', async (_name, headers) => {
      await expectRejected(headers, NOT_PROVIDED);
    });
  });

  describe('a key that does not authenticate -> 403 "Token invalid/expired"', () => {
    it('an unknown key', async () => {
      await expectRejected(bearer('not-a-real-key'), INVALID);
    });

    it('an expired API token', async () => {
      const key = await f.apiKey(alice, { expires: new Date(Date.now() - 1000) });
      keys.push(key);
      await expectRejected(bearer(key), INVALID);
    });

    it.each(['app_password', 'recovery', 'verification'] as const)(
      'an API token with intent %s',
      async (intent) => {
        const key = await f.apiKey(alice, { intent });
        keys.push(key);
        await expectRejected(bearer(key), INVALID);
      },
    );

    it('an API token of an inactive user', async () => {
      const inactive = await f.user({ isActive: false });
      const key = await f.apiKey(inactive);
      keys.push(key);
      await expectRejected(bearer(key), INVALID);
    });

    it('an OAuth2 access token without the goauthentik.io/api scope', async () => {
      const key = await f.accessToken(alice, { scope: 'openid profile email' });
      keys.push(key);
      await expectRejected(bearer(key), INVALID);
    });

    it('an OAuth2 access token whose scope merely contains the string as a prefix', async () => {
      const key = await f.accessToken(alice, { scope: 'openid goauthentik.io/api-extra' });
      await expectRejected(bearer(key), INVALID);
    });

    it('an expired OAuth2 access token with the API scope', async () => {
      const key = await f.accessToken(alice, {
        scope: 'openid goauthentik.io/api',
        expires: new Date(Date.now() - HOUR),
      });
      await expectRejected(bearer(key), INVALID);
    });

    it('a revoked OAuth2 access token with the API scope', async () => {
      const key = await f.accessToken(alice, { scope: 'openid goauthentik.io/api', revoked: true });
      await expectRejected(bearer(key), INVALID);
    });

    it('an OAuth2 access token with the API scope of an inactive user', async () => {
      const inactive = await f.user({ isActive: false });
      const key = await f.accessToken(inactive, { scope: 'goauthentik.io/api' });
      await expectRejected(bearer(key), INVALID);
    });

    it('a valid key with extra text after it', async () => {
      await expectRejected({ authorization: `Bearer ${aliceKey} extra` }, INVALID);
    });

    it('the stored hash of a valid key, presented as the key', async () => {
      await expectRejected(bearer(sha256(aliceKey).toString('hex')), INVALID);
    });
  });

  describe('accepted keys', () => {
    it('an API token with intent api', async () => {
      const response = await request(t.app, 'GET', WHOAMI, bearer(aliceKey));
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        pk: alice.id,
        username: alice.username,
        is_superuser: false,
        permissions: [],
        authenticated_via: 'api_token',
      });
    });

    it.each(['bearer', 'BEARER', 'BeArEr'])('with the scheme written %s', async (scheme) => {
      const response = await request(t.app, 'GET', WHOAMI, { authorization: `${scheme} ${aliceKey}` });
      expect(response.status).toBe(200);
    });

    it('an API token that expires in the future', async () => {
      const key = await f.apiKey(alice, { expires: new Date(Date.now() + HOUR) });
      expect((await request(t.app, 'GET', WHOAMI, bearer(key))).status).toBe(200);
    });

    it('an OAuth2 access token with the goauthentik.io/api scope', async () => {
      const key = await f.accessToken(alice, { scope: 'openid goauthentik.io/api profile' });
      const response = await request(t.app, 'GET', WHOAMI, bearer(key));
      expect(response.status).toBe(200);
      expect(response.body).toEqual(
        expect.objectContaining({ pk: alice.id, authenticated_via: 'oauth2_access_token' }),
      );
    });

    it('a non-expiring OAuth2 access token with the API scope', async () => {
      const key = await f.accessToken(alice, { scope: 'goauthentik.io/api', expires: null });
      expect((await request(t.app, 'GET', WHOAMI, bearer(key))).status).toBe(200);
    });
  });

  describe('principal resolution', () => {
    it('is a superuser through an ancestor group, and inherits roles of the user, its groups and their ancestors', async () => {
      const root = await f.group({ isSuperuser: true });
      const middle = await f.group({ parent: root.name });
      const leaf = await f.group({ parent: middle.name });
      const user = await f.user();
      await f.member(user, leaf);
      await f.role(['authentik_providers_oauth2.view_accesstoken'], { user });
      await f.role(['authentik_providers_oauth2.delete_refreshtoken'], { group: root });
      await f.role(['authentik_providers_oauth2.view_authorizationcode'], { group: leaf });
      const response = await request(t.app, 'GET', WHOAMI, bearer(await f.apiKey(user)));
      expect(response.body).toEqual({
        pk: user.id,
        username: user.username,
        is_superuser: true,
        permissions: [
          'authentik_providers_oauth2.delete_refreshtoken',
          'authentik_providers_oauth2.view_accesstoken',
          'authentik_providers_oauth2.view_authorizationcode',
        ],
        authenticated_via: 'api_token',
      });
    });

    it('is not a superuser through a superuser child group', async () => {
      const parent = await f.group();
      await f.group({ parent: parent.name, isSuperuser: true });
      const user = await f.user();
      await f.member(user, parent);
      const response = await request(t.app, 'GET', WHOAMI, bearer(await f.apiKey(user)));
      expect(response.body).toEqual(expect.objectContaining({ is_superuser: false }));
    });

    it('survives a cycle in the group tree', async () => {
      const a = await f.group();
      const b = await f.group({ parent: a.name });
      await t.dataSource.query('UPDATE groups SET parent_id = $1 WHERE id = $2', [b.id, a.id]);
      const user = await f.user();
      await f.member(user, a);
      const response = await request(t.app, 'GET', WHOAMI, bearer(await f.apiKey(user)));
      expect(response.status).toBe(200);
      expect(response.body).toEqual(expect.objectContaining({ is_superuser: false }));
    });
  });

  it('never stores a key in plaintext', async () => {
    const rows: { key_hash: Buffer }[] = await t.dataSource.query('SELECT key_hash FROM api_tokens');
    const dump = JSON.stringify(await t.dataSource.query('SELECT * FROM api_tokens'));
    for (const key of keys) expect(dump).not.toContain(key);
    expect(rows.map((row) => row.key_hash.toString('hex'))).toContain(sha256(aliceKey).toString('hex'));
  });

  it('never logs a presented key, valid or not', async () => {
    await request(t.app, 'GET', WHOAMI, bearer(aliceKey));
    await request(t.app, 'GET', WHOAMI, bearer('unknown-key-that-must-not-be-logged'));
    // A key in the URL is not accepted, and its value is not logged either.
    const inUrl = await request(t.app, 'GET', `${WHOAMI}?access_token=${aliceKey}&token=secret-in-url`);
    expect(inUrl.status).toBe(403);
    expect(inUrl.body).toEqual(NOT_PROVIDED);
    expect(t.logs.text).toContain('access_token=[redacted]');
    expect(t.logs.text).not.toContain('secret-in-url');
    expect(t.logs.lines.length).toBeGreaterThan(0);
    for (const key of [...keys, 'unknown-key-that-must-not-be-logged'])
      expect(t.logs.text).not.toContain(key);
  });
});
