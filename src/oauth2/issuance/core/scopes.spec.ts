import { type ClaimsUser, grantableScopes, MAPPED_SCOPES, scopeClaims, scopeSet } from './scopes';

const user: ClaimsUser = {
  id: 7,
  uuid: '0b4c2f0e-93a4-4f5e-9d8a-6c1f9f1e2a3b',
  username: 'ada',
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  attributes: { team: 'engines' },
  groups: ['analysts', 'admins'],
  roles: ['auditor'],
};

describe('scopeSet', () => {
  it.each<[string | undefined, string[]]>([
    [undefined, []],
    ['', []],
    ['   ', []],
    ['openid', ['openid']],
    ['openid email', ['openid', 'email']],
    ['  openid\t\temail\nprofile  ', ['openid', 'email', 'profile']],
    ['email openid email', ['email', 'openid']],
  ])('%j', (scope, expected) => {
    expect(scopeSet(scope)).toEqual(expected);
  });
});

describe('grantableScopes', () => {
  it('an empty request means every mapped scope, in their order', () => {
    expect(grantableScopes([])).toEqual([
      'openid',
      'email',
      'profile',
      'entitlements',
      'offline_access',
      'goauthentik.io/api',
    ]);
    expect(MAPPED_SCOPES).toEqual(grantableScopes([]));
  });

  it('drops unknown scopes silently and keeps the requested order', () => {
    expect(grantableScopes(['profile', 'admin', 'openid', 'goauthentik.io/api'])).toEqual([
      'profile',
      'openid',
      'goauthentik.io/api',
    ]);
    expect(grantableScopes(['admin'])).toEqual([]);
  });

  it('returns a copy, not the mapped list itself', () => {
    const all = grantableScopes([]);
    all.push('extra');
    expect(grantableScopes([])).toHaveLength(6);
  });
});

describe('scopeClaims', () => {
  it('openid alone (or scopes without claims) adds nothing', () => {
    expect(scopeClaims(user, ['openid', 'offline_access', 'goauthentik.io/api'])).toEqual({});
    expect(scopeClaims(user, [])).toEqual({});
  });

  it('email: the address and email_verified false', () => {
    expect(scopeClaims(user, ['email'])).toEqual({ email: 'ada@example.com', email_verified: false });
  });

  it('profile: names, usernames and group names', () => {
    expect(scopeClaims(user, ['profile'])).toEqual({
      name: 'Ada Lovelace',
      given_name: 'Ada Lovelace',
      preferred_username: 'ada',
      nickname: 'ada',
      groups: ['analysts', 'admins'],
    });
  });

  it('entitlements: no entitlements, the role names', () => {
    expect(scopeClaims(user, ['entitlements'])).toEqual({ entitlements: [], roles: ['auditor'] });
  });

  it('all scopes: merged in scope-name order, whatever the requested order', () => {
    const claims = scopeClaims(user, ['profile', 'openid', 'entitlements', 'email']);
    expect(claims).toEqual({
      email: 'ada@example.com',
      email_verified: false,
      entitlements: [],
      roles: ['auditor'],
      name: 'Ada Lovelace',
      given_name: 'Ada Lovelace',
      preferred_username: 'ada',
      nickname: 'ada',
      groups: ['analysts', 'admins'],
    });
    expect(Object.keys(claims)).toEqual([
      'email',
      'email_verified',
      'entitlements',
      'roles',
      'name',
      'given_name',
      'preferred_username',
      'nickname',
      'groups',
    ]);
  });

  it('does not reorder the caller’s scopes', () => {
    const scopes = ['profile', 'email'];
    scopeClaims(user, scopes);
    expect(scopes).toEqual(['profile', 'email']);
  });
});
