import { createHash } from 'node:crypto';
import { InputError } from '../../identity/accounts';
import { accessTokenHash, issuerFor, normalizeScope, subjectFor } from './grants';

describe('normalizeScope', () => {
  it('collapses whitespace and repeats', () => {
    expect(normalizeScope('  openid   email\topenid profile ')).toBe('openid email profile');
    expect(normalizeScope('')).toBe('');
  });

  it('rejects characters RFC 6749 does not allow in a scope', () => {
    expect(() => normalizeScope('openid "quoted"')).toThrow(
      new InputError('scope ""quoted"" contains characters a scope cannot have'),
    );
    expect(() => normalizeScope('openid émail')).toThrow(InputError);
  });
});

describe('issuerFor', () => {
  it('is the application URL per provider, the instance URL globally', () => {
    expect(issuerFor('per_provider', 'grafana')).toBe('http://localhost:9000/application/o/grafana/');
    expect(issuerFor('global', 'grafana')).toBe('http://localhost:9000/');
    expect(issuerFor('per_provider', undefined)).toBe('http://localhost:9000/');
  });
});

describe('subjectFor', () => {
  const user = {
    id: 7,
    uuid: '2b7ac7ca-7e58-42c5-abfd-14c817786e48',
    username: 'alice',
    email: 'alice@example.com',
    attributes: {},
  };
  const install = '6b9a3c52-5c1b-4b43-9b0e-1f0f5d3e2a10';
  const uid = createHash('sha256').update(`7-${install}`).digest('hex');

  it.each([
    ['hashed_user_id', uid],
    ['user_id', '7'],
    ['user_uuid', user.uuid],
    ['user_username', 'alice'],
    ['user_email', 'alice@example.com'],
    ['user_upn', uid],
  ] as const)('%s', (mode, sub) => {
    expect(subjectFor(mode, user, install)).toBe(sub);
  });

  it('uses the upn attribute when the user has one', () => {
    expect(subjectFor('user_upn', { ...user, attributes: { upn: 'alice@corp' } }, install)).toBe(
      'alice@corp',
    );
  });
});

describe('accessTokenHash', () => {
  it('is base64url of the left half of the SHA-256, unpadded', () => {
    // The access token and at_hash of the examples in OpenID Connect Core 1.0, appendix A.
    expect(accessTokenHash('jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y')).toBe('77QmUPtjPfzWtF2AnpK9RQ');
  });
});
