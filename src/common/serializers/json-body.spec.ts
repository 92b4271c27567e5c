import { paginatedBody, pagination } from '../pagination/pagination';
import { JsonBody, serializeReply } from './json-body';

describe('JsonBody', () => {
  it('is the UTF-8 bytes of its parts, multi-byte characters included', () => {
    const body = new JsonBody(['{"name":', JSON.stringify('Zoë 😀 漢字'), '}']);
    const buffer = body.toBuffer();
    expect(buffer.toString('utf8')).toBe('{"name":"Zoë 😀 漢字"}');
    expect(buffer.length).toBe(Buffer.byteLength('{"name":"Zoë 😀 漢字"}'));
    expect(body.toString()).toBe('{"name":"Zoë 😀 漢字"}');
  });

  it('is sent as its bytes by the reply serializer; anything else is JSON.stringify', () => {
    expect(serializeReply(new JsonBody(['[1', ',2]']))).toEqual(Buffer.from('[1,2]'));
    expect(serializeReply({ detail: 'Not found.' })).toBe('{"detail":"Not found."}');
  });
});

describe('paginatedBody', () => {
  it('is the paginated envelope JSON.stringify would write, in authentik key order', () => {
    const results = [
      { pk: 1, scope: ['openid'] },
      { pk: 2, scope: [] },
    ];
    const body = paginatedBody(
      2,
      41,
      20,
      results.map((result) => JSON.stringify(result)),
    );
    expect(body.toString()).toBe(
      JSON.stringify({ pagination: pagination(2, 41, 20), results, autocomplete: {} }),
    );
    expect(paginatedBody(1, 0, 20, []).toString()).toBe(
      '{"pagination":{"next":0,"previous":0,"count":0,"current":1,"total_pages":1,"start_index":0,"end_index":0},' +
        '"results":[],"autocomplete":{}}',
    );
  });
});
