import fc from 'fast-check';
import { DEFAULT_ACR, formatIdToken } from './id-token';

/**
 * The straightforward formatter this module replaced (spread, entries, filter, fromEntries, map and join), kept as the
 * reference the one-pass version must match on any claims.
 */
function referenceFormat(claims: Record<string, unknown> | null | undefined): string {
  const order = [
    'iss',
    'sub',
    'aud',
    'exp',
    'iat',
    'auth_time',
    'acr',
    'amr',
    'c_hash',
    'nonce',
    'at_hash',
    'sid',
    'jti',
  ];
  const source: Record<string, unknown> = { acr: DEFAULT_ACR, ...(claims ?? {}) };
  if (source.acr === null || source.acr === undefined) source.acr = DEFAULT_ACR;
  const ordered: [string, unknown][] = [];
  for (const key of order) if (key in source) ordered.push([key, source[key]]);
  for (const [key, value] of Object.entries(source)) if (!order.includes(key)) ordered.push([key, value]);
  const text = (value: string): string =>
    `"${[...value]
      .map((char) => {
        if (char === '"' || char === '\\') return `\\${char}`;
        const escapes: Record<string, string> = { '\n': 'n', '\r': 'r', '\t': 't', '\b': 'b', '\f': 'f' };
        if (escapes[char]) return `\\${escapes[char]}`;
        const code = char.codePointAt(0) ?? 0;
        if (code >= 0x20 && code <= 0x7e) return char;
        return [...Array(char.length).keys()]
          .map((i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`)
          .join('');
      })
      .join('')}"`;
  const dumps = (value: unknown, depth: number): string => {
    const pad = '    '.repeat(depth + 1);
    const closePad = '    '.repeat(depth);
    if (value === null || value === undefined) return 'null';
    if (typeof value === 'string') return text(value);
    if (typeof value === 'boolean' || typeof value === 'number') return String(value);
    if (Array.isArray(value)) {
      if (value.length === 0) return '[]';
      return `[\n${value.map((item) => pad + dumps(item, depth + 1)).join(',\n')}\n${closePad}]`;
    }
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return '{}';
    return `{\n${entries.map(([key, item]) => `${pad}${text(key)}: ${dumps(item, depth + 1)}`).join(',\n')}\n${closePad}}`;
  };
  // Members in Python's order. (Through Object.fromEntries, as the old version went, integer-like keys such as "0"
  // jumped ahead of the standard claims; a Python dict keeps them where they are.)
  const members = ordered.filter(([, value]) => value !== null && value !== undefined);
  return `{\n${members.map(([key, item]) => `    ${text(key)}: ${dumps(item, 1)}`).join(',\n')}\n}`;
}

describe('formatIdToken', () => {
  it('orders standard claims first, drops nulls, indents by 4 and escapes non-ASCII like Python', () => {
    const text = formatIdToken({
      email: 'zoë@example.com',
      sub: 'abc',
      iss: 'https://id.example.com/application/o/app/',
      nonce: null,
      aud: 'client',
      amr: ['pwd', 'mfa'],
      exp: 1700003600,
      iat: 1700000000,
      groups: [],
      extra: {},
    });
    expect(text).toBe(
      [
        '{',
        '    "iss": "https://id.example.com/application/o/app/",',
        '    "sub": "abc",',
        '    "aud": "client",',
        '    "exp": 1700003600,',
        '    "iat": 1700000000,',
        '    "acr": "goauthentik.io/providers/oauth2/default",',
        '    "amr": [',
        '        "pwd",',
        '        "mfa"',
        '    ],',
        '    "email": "zo\\u00eb@example.com",',
        '    "groups": [],',
        '    "extra": {}',
        '}',
      ].join('\n'),
    );
  });

  it('keeps an explicit acr and escapes astral characters as surrogate pairs', () => {
    expect(formatIdToken({ acr: 'urn:x', name: '😀"\\' })).toBe(
      '{\n    "acr": "urn:x",\n    "name": "\\ud83d\\ude00\\"\\\\"\n}',
    );
  });

  it('renders empty claims with the default acr', () => {
    expect(formatIdToken({})).toBe('{\n    "acr": "goauthentik.io/providers/oauth2/default"\n}');
  });

  it('matches the reference formatter on any JSON claims', () => {
    const claimKey = fc.oneof(
      fc.constantFrom('iss', 'sub', 'aud', 'exp', 'acr', 'amr', 'nonce', 'jti'),
      fc.string(),
    );
    const claims = fc.dictionary(claimKey, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 12 });
    fc.assert(
      fc.property(claims, (value) => {
        // Through JSON, as claims come from the database (no -0, no undefined).
        const parsed = JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
        expect(formatIdToken(parsed)).toBe(referenceFormat(parsed));
      }),
      { numRuns: 2000, seed: 4 },
    );
    expect(formatIdToken(null)).toBe(referenceFormat(null));
    expect(formatIdToken({ 0: false, sub: 'a' })).toBe(
      '{\n    "sub": "a",\n    "acr": "goauthentik.io/providers/oauth2/default",\n    "0": false\n}',
    );
  });
});
