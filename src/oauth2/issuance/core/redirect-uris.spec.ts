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

describe('redirect URI matching, edges', () => {
  it('an empty URI matches nothing, not even a pattern that would match it', () => {
    expect(compilePattern('.*')?.test('')).toBe(true);
    expect(redirectUriMatches([regex('.*'), strict('')], '')).toBe(false);
  });

  it('considers URIs of up to 2048 characters, exactly', () => {
    const exact = `https://app.example.com/${'a'.repeat(2048 - 24)}`;
    expect(exact).toHaveLength(2048);
    expect(redirectUriMatches([strict(exact)], exact)).toBe(true);
    expect(redirectUriMatches([regex('https://app\\.example\\.com/a+')], exact)).toBe(true);
    expect(redirectUriMatches([regex('https://app\\.example\\.com/a+')], `${exact}a`)).toBe(false);
  });

  it('a registered URI without a type is an authorization redirect', () => {
    const untyped = { matching_mode: 'strict', url: 'https://app.example.com/cb' } as RedirectUri;
    expect(redirectUriMatches([untyped], 'https://app.example.com/cb')).toBe(true);
    expect(redirectUriMatches([untyped], 'https://app.example.com/cb', 'logout')).toBe(false);
  });

  it('tries every registered URI until one matches', () => {
    const registered = [
      strict('https://a.example.com/cb'),
      regex('https://b\\.example\\.com/.+'),
      strict('https://c.example.com/cb'),
    ];
    expect(redirectUriMatches(registered, 'https://c.example.com/cb')).toBe(true);
    expect(redirectUriMatches(registered, 'https://b.example.com/x')).toBe(true);
    expect(redirectUriMatches(registered, 'https://d.example.com/cb')).toBe(false);
  });

  it.each([
    ['javascript:x', true],
    ['JAVASCRIPT:x', true],
    ['\t data:x', true],
    ['VBScript:x', true],
    ['javascripts:x', false],
    ['xdata:x', false],
    ['https:x', false],
    ['data', false],
    ['1data:x', false],
    ['java script:x', false],
  ])('hasForbiddenScheme(%j) is %s', (uri, forbidden) => {
    expect(hasForbiddenScheme(uri)).toBe(forbidden);
  });

  it('compiles patterns of up to 1024 characters and anchors them', () => {
    const long = `https:x${'a'.repeat(1024 - 7)}`;
    expect(long).toHaveLength(1024);
    expect(compilePattern(long)?.source).toBe(`^(?:${long})$`);
    expect(compilePattern(`${long}a`)).toBeNull();
    expect(compilePattern('(')).toBeNull();
    // Cached: the same object again.
    expect(compilePattern('https://cached/cb')).toBe(compilePattern('https://cached/cb'));
  });

  it.each([
    ['[a-z]+', false],
    ['(a)+', false],
    ['(a?)+', false],
    ['(a+)?', false],
    ['(a+)', false],
    ['(a|b)', false],
    ['a|b', false],
    ['(?:a|b)c', false],
    ['\\(a+\\)+', false],
    ['[(]a+[)]+', false],
    ['[]a]+', false],
    ['.*/.*', false],
    ['.*abc.*', false],
    ['(a+)*', true],
    ['(a+){2}', true],
    ['(a|b)+', true],
    ['(a|b)*', true],
    ['(a|b){3}', true],
    ['((a)+)+', true],
    ['((a)b)+', false],
    ['(x(a)+)+', true],
    ['(a{2})+', true],
    ['(a*)+', true],
    ['.*x.*', true],
    ['.+xy.+', true],
    ['.*.+', true],
    ['\\9', true],
    ['[abc', true],
    ['(a)\\2', true],
    // Nesting does not hide a quantifier or an alternation from the group repeated around it.
    ['(x(a+))+', true],
    ['(x(a)?)+', true],
    ['((a|aa))+', true],
    ['(x(a|aa)y)*', true],
    ['(https://(a|b)\\.example\\.com)?/cb', false],
    ['(x(a|b))', false],
    // Unbalanced and bracket edges: no crash, no endless loop.
    ['a)+', false],
    ['a)(b|c)', false],
    ['https://x/a][b]', false],
  ])('catastrophic(%j) is %s', (pattern, expected) => {
    expect(catastrophic(pattern)).toBe(expected);
  });
});
