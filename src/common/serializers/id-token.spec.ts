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

describe('formatIdToken, value by value', () => {
  it('prints numbers, booleans and nesting as Python json.dumps(indent=4) does', () => {
    expect(
      formatIdToken({
        acr: null,
        auth_time: 0,
        flags: [true, false, null],
        nested: { a: [{ b: 1.5 }, []], c: {} },
        nan: Number.NaN,
        up: Number.POSITIVE_INFINITY,
        down: Number.NEGATIVE_INFINITY,
        neg: -2,
      }),
    ).toBe(
      [
        '{',
        '    "auth_time": 0,',
        '    "acr": "goauthentik.io/providers/oauth2/default",',
        '    "flags": [',
        '        true,',
        '        false,',
        '        null',
        '    ],',
        '    "nested": {',
        '        "a": [',
        '            {',
        '                "b": 1.5',
        '            },',
        '            []',
        '        ],',
        '        "c": {}',
        '    },',
        '    "nan": NaN,',
        '    "up": Infinity,',
        '    "down": -Infinity,',
        '    "neg": -2',
        '}',
      ].join('\n'),
    );
  });

  it('prints every standard claim in the IDToken order, whatever the stored order', () => {
    const stored = {
      jti: 'j',
      sid: 's',
      at_hash: 'h',
      nonce: 'n',
      c_hash: 'c',
      amr: [],
      acr: 'a',
      auth_time: 5,
      iat: 4,
      exp: 3,
      aud: 'd',
      sub: 'u',
      iss: 'i',
    };
    expect(formatIdToken(stored)).toBe(
      '{\n    "iss": "i",\n    "sub": "u",\n    "aud": "d",\n    "exp": 3,\n    "iat": 4,\n    "auth_time": 5,\n' +
        '    "acr": "a",\n    "amr": [],\n    "c_hash": "c",\n    "nonce": "n",\n    "at_hash": "h",\n    "sid": "s",\n' +
        '    "jti": "j"\n}',
    );
  });

  it('escapes control characters, quotes and backslashes in keys and values', () => {
    expect(formatIdToken({ 'k"\\': 'a\nb\rc\td\be\ff\u0001g\u007fh~ é' })).toBe(
      '{\n    "acr": "goauthentik.io/providers/oauth2/default",\n' +
        '    "k\\"\\\\": "a\\nb\\rc\\td\\be\\ff\\u0001g\\u007fh~ \\u00e9"\n}',
    );
  });

  it('drops null and undefined claims at the top, prints them as null inside', () => {
    expect(formatIdToken({ gone: undefined, none: null, inside: { u: undefined, n: null } })).toBe(
      '{\n    "acr": "goauthentik.io/providers/oauth2/default",\n    "inside": {\n        "u": null,\n' +
        '        "n": null\n    }\n}',
    );
    expect(formatIdToken(undefined)).toBe('{\n    "acr": "goauthentik.io/providers/oauth2/default"\n}');
  });

  it('prints a value JSON has no form for as null', () => {
    expect(formatIdToken({ f: () => 1, s: Symbol('x') })).toBe(
      '{\n    "acr": "goauthentik.io/providers/oauth2/default",\n    "f": null,\n    "s": null\n}',
    );
  });
});

describe('formatIdToken, own claims only', () => {
  it('prints only the claims object itself holds, never one inherited from its prototype', () => {
    const claims = Object.create({ iss: 'inherited', extra: 'inherited' }) as Record<string, unknown>;
    claims.sub = 'own';
    expect(formatIdToken(claims)).toBe(
      '{\n    "sub": "own",\n    "acr": "goauthentik.io/providers/oauth2/default"\n}',
    );
  });
});
