import type { FastifyRequest } from 'fastify';
import { quoteAll } from './end-session.command';
import { idTokenDict, scopeList } from './grant-lookup';
import { readAccessToken } from './userinfo.controller';

const request = (input: {
  authorization?: string;
  form?: Record<string, string>;
  query?: Record<string, unknown>;
}): FastifyRequest =>
  ({
    headers: input.authorization === undefined ? {} : { authorization: input.authorization },
    body: input.form === undefined ? undefined : new URLSearchParams(input.form),
    query: input.query ?? {},
  }) as unknown as FastifyRequest;

describe('quoteAll (Python quote(value, safe=""))', () => {
  it.each([
    ['abcXYZ019', 'abcXYZ019'],
    ['_.-~', '_.-~'],
    ["a b/c?d&e=f!'()*", 'a%20b%2Fc%3Fd%26e%3Df%21%27%28%29%2A'],
    ['é€😀', '%C3%A9%E2%82%AC%F0%9F%98%80'],
    ['%41+', '%2541%2B'],
    ['\uD800x', '%EF%BF%BDx'],
  ])('%j → %j', (value, quoted) => {
    expect(quoteAll(value)).toBe(quoted);
  });
});

describe('readAccessToken (authentik extract_access_token)', () => {
  it.each([
    ['Bearer header', { authorization: 'Bearer abc' }, 'abc'],
    ['bearer header', { authorization: 'bearer abc' }, 'abc'],
    ['extra words after the token', { authorization: 'Bearer abc def' }, 'abc'],
    ['two spaces', { authorization: 'Bearer  abc' }, 'abc'],
    ['BEARER is not a match', { authorization: 'BEARER abc', query: { access_token: 'q' } }, 'q'],
    [
      'header first',
      { authorization: 'Bearer h', form: { access_token: 'f' }, query: { access_token: 'q' } },
      'h',
    ],
    ['form before query', { form: { access_token: 'f' }, query: { access_token: 'q' } }, 'f'],
    ['an empty form field still wins', { form: { access_token: '' }, query: { access_token: 'q' } }, ''],
    ['query', { query: { access_token: 'q' } }, 'q'],
    ['repeated query: the first', { query: { access_token: ['q1', 'q2'] } }, 'q1'],
    ['nothing', {}, undefined],
    ['Basic is not a bearer', { authorization: 'Basic YTpi' }, undefined],
  ])('%s', (_name, input, token) => {
    expect(readAccessToken(request(input))).toBe(token);
  });
});

describe('idTokenDict (authentik IDToken.to_dict)', () => {
  it('puts the IDToken fields first in dataclass order, drops nulls, defaults acr, keeps other claims', () => {
    const dict = idTokenDict({
      email: 'a@example.com',
      sub: 's',
      iss: 'https://id.example.com/',
      nonce: null,
      groups: ['g'],
      aud: 'client',
    });
    expect(dict).toEqual({
      iss: 'https://id.example.com/',
      sub: 's',
      aud: 'client',
      acr: 'goauthentik.io/providers/oauth2/default',
      email: 'a@example.com',
      groups: ['g'],
    });
    expect(Object.keys(dict)).toEqual(['iss', 'sub', 'aud', 'acr', 'email', 'groups']);
  });

  it('keeps a claim named __proto__ as a claim', () => {
    const dict = idTokenDict(
      JSON.parse('{"__proto__": {"polluted": true}, "sub": "s"}') as Record<string, unknown>,
    );
    expect(Object.hasOwn(dict, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.parse(JSON.stringify({ ...dict }))).toEqual(
      JSON.parse(
        '{"sub": "s", "acr": "goauthentik.io/providers/oauth2/default", "__proto__": {"polluted": true}}',
      ),
    );
  });
});

describe('scopeList', () => {
  it('splits on any whitespace and drops empties, keeping order', () => {
    expect(scopeList(' openid\temail  profile ')).toEqual(['openid', 'email', 'profile']);
    expect(scopeList('')).toEqual([]);
  });
});
