import type { RedirectUri } from '../../../providers/oauth2-provider.entity';
import { catastrophic, compilePattern, hasForbiddenScheme, redirectUriMatches } from './redirect-uris';

const strict = (url: string, type: RedirectUri['redirect_uri_type'] = 'authorization'): RedirectUri => ({
  matching_mode: 'strict',
  url,
  redirect_uri_type: type,
});
const regex = (url: string, type: RedirectUri['redirect_uri_type'] = 'authorization'): RedirectUri => ({
  matching_mode: 'regex',
  url,
  redirect_uri_type: type,
});

describe('redirect URI matching', () => {
  it('strict: string equality only, per type', () => {
    const registered = [
      strict('https://app.example.com/cb'),
      strict('https://app.example.com/bye', 'logout'),
    ];
    expect(redirectUriMatches(registered, 'https://app.example.com/cb')).toBe(true);
    expect(redirectUriMatches(registered, 'https://app.example.com/cb/')).toBe(false);
    expect(redirectUriMatches(registered, 'https://APP.example.com/cb')).toBe(false);
    expect(redirectUriMatches(registered, 'https://app.example.com/cb?x=1')).toBe(false);
    expect(redirectUriMatches(registered, 'https://app.example.com/bye')).toBe(false);
    expect(redirectUriMatches(registered, 'https://app.example.com/bye', 'logout')).toBe(true);
    expect(redirectUriMatches(registered, '')).toBe(false);
  });

  it('regex: a full match (Python re.fullmatch), not a search', () => {
    const registered = [regex('https://[a-z]+\\.example\\.com/cb')];
    expect(redirectUriMatches(registered, 'https://tenant.example.com/cb')).toBe(true);
    expect(redirectUriMatches(registered, 'https://tenant.example.com/cb/more')).toBe(false);
    expect(redirectUriMatches(registered, 'xhttps://tenant.example.com/cb')).toBe(false);
    // Alternation is anchored as a whole.
    expect(redirectUriMatches([regex('https://a\\.test/x|https://b\\.test/y')], 'https://b.test/y')).toBe(
      true,
    );
    expect(redirectUriMatches([regex('https://a\\.test/x|https://b\\.test/y')], 'https://a.test/xEVIL')).toBe(
      false,
    );
  });

  it('refuses javascript:, data: and vbscript: whatever is registered', () => {
    const anything = [regex('.*')];
    for (const uri of ['javascript:alert(1)', ' JavaScript:alert(1)', 'data:text/html,x', 'vbscript:x']) {
      expect(hasForbiddenScheme(uri)).toBe(true);
      expect(redirectUriMatches(anything, uri)).toBe(false);
      expect(redirectUriMatches([strict(uri)], uri)).toBe(false);
    }
    expect(hasForbiddenScheme('https://app.example.com/javascript:')).toBe(false);
  });

  it('does not run patterns that backtrack catastrophically', () => {
    for (const pattern of [
      '(a+)+$',
      '(a*)*b',
      '(a|aa)+$',
      '(\\w+\\s?)+$',
      '(.*a){12}',
      '(x+x+)+y',
      '(a)\\1',
    ]) {
      expect({ pattern, catastrophic: catastrophic(pattern) }).toEqual({ pattern, catastrophic: true });
      expect(compilePattern(pattern)).toBeNull();
      // The classic attack input: with a backtracking engine this would take exponential time.
      expect(redirectUriMatches([regex(pattern)], `${'a'.repeat(40)}!`)).toBe(false);
    }
  });

  it('keeps the patterns redirect URIs are written with', () => {
    for (const pattern of [
      'https://.*\\.example\\.com/callback',
      'https://app\\.example\\.com/(cb|callback)',
      'http://localhost:[0-9]+/cb',
      'https://[a-z0-9-]+\\.example\\.com/oauth2/callback/?',
    ]) {
      expect({ pattern, catastrophic: catastrophic(pattern) }).toEqual({ pattern, catastrophic: false });
      expect(compilePattern(pattern)).not.toBeNull();
    }
  });

  it('an invalid pattern matches nothing (and does not throw)', () => {
    expect(redirectUriMatches([regex('https://([a-z')], 'https://([a-z')).toBe(false);
  });

  it('ignores URIs longer than 2048 characters', () => {
    const long = `https://app.example.com/${'a'.repeat(2100)}`;
    expect(redirectUriMatches([strict(long)], long)).toBe(false);
  });
});
