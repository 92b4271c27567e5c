import { ValidationApiError } from '../../common/errors/api-error';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../common/validation/json-depth';
import { parseAttributes, parseUserFilters, realCalendarDate } from './user-list-params';

describe("parseAttributes (authentik's `attributes` filter)", () => {
  it('reads keys as `__`-joined paths whose last part may be a lookup', () => {
    expect(
      parseAttributes('{"team":"x","a__b":1,"a__b__icontains":"Q","exact":true,"k__exact":null}'),
    ).toEqual([
      { path: ['team'], lookup: 'exact', value: 'x' },
      { path: ['a', 'b'], lookup: 'exact', value: 1 },
      { path: ['a', 'b'], lookup: 'icontains', value: 'Q' },
      { path: ['exact'], lookup: 'exact', value: true },
      { path: ['k'], lookup: 'exact', value: null },
    ]);
    expect(parseAttributes(undefined)).toEqual([]);
    expect(parseAttributes('')).toEqual([]);
  });

  it('answers the bare-list 400s for what is not JSON, not an object, or nested too deeply', () => {
    const body = (raw: string): unknown => {
      try {
        parseAttributes(raw);
        return 'no error';
      } catch (error) {
        return (error as { getResponse(): unknown }).getResponse();
      }
    };
    expect(body('{')).toEqual(['filter: failed to parse JSON']);
    expect(body('[1]')).toEqual(['filter: value must be key:value mapping']);
    expect(body('"x"')).toEqual(['filter: value must be key:value mapping']);
    expect(body(`{"a":${'['.repeat(200)}${']'.repeat(200)}}`)).toEqual(['filter: failed to parse JSON']);
  });
});

describe('parseUserFilters', () => {
  it('ignores empty and unknown boolean values; normalises UUIDs; keeps every value of a multi-value filter', () => {
    const filters = parseUserFilters({
      is_active: 'yes',
      is_superuser: 'False',
      last_login__isnull: 'True',
      username: '',
      type: ['internal', 'external'],
      groups_by_pk: ['0F0F0F0F0F0F4F0F8F0F0F0F0F0F0F0F'],
      date_joined__gt: '2024-01-02',
    });
    expect(filters).toMatchObject({
      isActive: undefined,
      isSuperuser: false,
      lastLoginIsnull: true,
      username: undefined,
      types: ['internal', 'external'],
      groupsByPk: ['0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f'],
      dates: { date_joined__gt: '2024-01-02T00:00:00Z' },
    });
  });

  it("reports every invalid parameter at once, in django-filter's words", () => {
    try {
      parseUserFilters({ date_joined: 'x', uuid: 'y', type: ['robot'], roles_by_pk: ['z'] });
      throw new Error('no error');
    } catch (error) {
      expect((error as ValidationApiError).errors).toEqual({
        date_joined: ['Enter a valid date/time.'],
        uuid: ['Enter a valid UUID.'],
        type: ['Select a valid choice. robot is not one of the available choices.'],
        roles_by_pk: ['“z” is not a valid value.'],
      });
    }
  });
});

describe('realCalendarDate', () => {
  it.each([
    ['2024-02-29T00:00:00Z', true],
    ['2023-02-29T00:00:00Z', false],
    ['2024-02-30T00:00', false],
    ['2024-01-01T24:00', false],
    ['2024-01-01T23:59:59.999999+14:00', true],
    ['2024-01-01T00:00+16:00', false],
    ['0000-01-01T00:00Z', false],
  ])('%s: %s', (value, ok) => {
    expect(realCalendarDate(value)).toBe(ok);
  });
});

describe('nestsDeeperThan', () => {
  it('measures without recursion, so 100,000 levels are fine to look at', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i += 1) deep = [deep];
    expect(nestsDeeperThan(deep, MAX_JSON_DEPTH)).toBe(true);
    expect(nestsDeeperThan({ a: [{ b: 1 }] }, 3)).toBe(false);
    expect(nestsDeeperThan({ a: [{ b: {} }] }, 3)).toBe(true);
    expect(nestsDeeperThan('text', 0)).toBe(false);
  });
});
