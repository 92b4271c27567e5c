import { formatIdToken } from './id-token';

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
});
