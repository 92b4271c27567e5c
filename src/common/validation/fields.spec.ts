import { BodyValidationPipe } from './body-validation.pipe';
import { BooleanField, IntegerField, MESSAGES, parseDateTime, pythonType, StringField } from './fields';

describe('parseDateTime', () => {
  it.each([
    ['2024-02-29T10:00:00Z', '2024-02-29T10:00:00.000Z'],
    ['2024-02-29 10:00Z', '2024-02-29T10:00:00.000Z'],
    ['2030-01-01T00:00:00.123456+02:00', '2029-12-31T22:00:00.123Z'],
  ])('reads %s', (input, iso) => {
    expect(parseDateTime(input)?.toISOString()).toBe(iso);
  });

  it.each([
    '2024-02-30T10:00:00Z',
    '2023-02-29T00:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2024-01-01',
    'soon',
    '',
  ])('refuses %j', (input) => {
    expect(parseDateTime(input)).toBeNull();
  });
});

describe('pythonType', () => {
  it('names JSON values as Python does', () => {
    expect([null, [], 'x', true, 1, 1.5, {}].map(pythonType)).toEqual([
      'NoneType',
      'list',
      'str',
      'bool',
      'int',
      'float',
      'dict',
    ]);
  });
});

class Sample {
  @StringField({ maxLength: 5 }) name!: string;
  @IntegerField({ required: false }) count?: number;
  @BooleanField({ required: false, nullable: true }) flag?: boolean | null;
}

describe('BodyValidationPipe', () => {
  const pipe = new BodyValidationPipe();
  const run = (body: unknown): Promise<unknown> => pipe.transform(body, { type: 'body', metatype: Sample });

  it('answers every failing field with DRF messages', async () => {
    await expect(run({ name: 'toolong', count: '3', flag: 'yes' })).rejects.toMatchObject({
      errors: { name: [MESSAGES.maxLength(5)], count: [MESSAGES.integer], flag: [MESSAGES.boolean] },
    });
    await expect(run({})).rejects.toMatchObject({ errors: { name: [MESSAGES.required] } });
    await expect(run({ name: null })).rejects.toMatchObject({ errors: { name: [MESSAGES.null] } });
    await expect(run({ name: '  ' })).rejects.toMatchObject({ errors: { name: [MESSAGES.blank] } });
  });

  it('refuses a body that is not an object, and drops undeclared properties', async () => {
    await expect(run([1])).rejects.toMatchObject({
      errors: { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] },
    });
    await expect(run({ name: 'ok', flag: null, extra: 1 })).resolves.toEqual(
      Object.assign(new Sample(), { name: 'ok', flag: null }),
    );
  });

  it('leaves query strings and untyped bodies alone', async () => {
    expect(await pipe.transform('x', { type: 'query', metatype: String })).toBe('x');
    expect(await pipe.transform([1], { type: 'body', metatype: Object })).toEqual([1]);
  });
});
