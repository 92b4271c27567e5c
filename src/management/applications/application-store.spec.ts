import { formatLaunchUrl, providerLaunchUrl } from './application-store';

const user = {
  id: 7,
  uuid: 'u-u-i-d',
  username: 'ada',
  name: 'Ada L',
  email: 'ada@example.com',
  path: 'users',
};

describe('formatLaunchUrl (Python `url % user.__dict__`)', () => {
  it.each([
    ['https://%(username)s.example.com/?id=%(id)s', 'https://ada.example.com/?id=7'],
    ['https://example.com/100%%/%(email)s', 'https://example.com/100%/ada@example.com'],
    ['https://example.com/', 'https://example.com/'],
    // Python raises (unknown key, other conversion, lone %): authentik serves the URL unformatted.
    ['https://%(password)s.example.com/', 'https://%(password)s.example.com/'],
    ['https://example.com/%d', 'https://example.com/%d'],
    ['https://example.com/50%', 'https://example.com/50%'],
  ])('%s -> %s', (url, expected) => {
    expect(formatLaunchUrl(url, user)).toBe(expected);
  });

  it('leaves the URL alone without a user', () => {
    expect(formatLaunchUrl('https://%(username)s/', null)).toBe('https://%(username)s/');
  });
});

describe('providerLaunchUrl (urlparse(url)._replace(path=""))', () => {
  it.each([
    [[{ url: 'https://app.example.com/oauth/callback' }], 'https://app.example.com'],
    [
      [{ url: 'https://app.example.com:8443/cb?x=1#f' }, { url: 'https://b/' }],
      'https://app.example.com:8443?x=1#f',
    ],
    [[{ url: 'https://.*\\.example\\.com/cb' }], 'https://.*\\.example\\.com'],
    [[{ url: 'myapp:/callback' }], 'myapp:'],
    [[], null],
  ])('%j -> %s', (uris, expected) => {
    expect(providerLaunchUrl(uris)).toBe(expected);
  });
});
