import { applyDecorators } from '@nestjs/common';
import { ApiProperty, type ApiPropertyOptions } from '@nestjs/swagger';
import { ValidateBy } from 'class-validator';

/*
 * Field decorators for request DTOs: each declares the OpenAPI property (as authentik's schema has it) and validates
 * with DRF's exact messages, so a client sees the same 400 bodies as from authentik. A DTO made with
 * `PartialType(Dto, { skipNullProperties: false })` (PATCH) skips absent fields but still refuses null where the field
 * is not nullable.
 */

export const MESSAGES = {
  required: 'This field is required.',
  null: 'This field may not be null.',
  blank: 'This field may not be blank.',
  string: 'Not a valid string.',
  maxLength: (n: number) => `Ensure this field has no more than ${n} characters.`,
  integer: 'A valid integer is required.',
  minValue: (n: number) => `Ensure this value is greater than or equal to ${n}.`,
  boolean: 'Must be a valid boolean.',
  choice: (value: unknown) => `"${String(value)}" is not a valid choice.`,
  uuid: 'Must be a valid UUID.',
  datetime:
    'Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].',
  email: 'Enter a valid email address.',
  url: 'Enter a valid URL.',
  list: (value: unknown) => `Expected a list of items but got type "${pythonType(value)}".`,
  dict: (value: unknown) => `Expected a dictionary of items but got type "${pythonType(value)}".`,
  slug: 'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.',
} as const;

/** The Python type name DRF puts in its messages for a JSON value. */
export function pythonType(value: unknown): string {
  if (value === null || value === undefined) return 'NoneType';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'string') return 'str';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  return 'dict';
}

/** A check answers the DRF message for a bad value, or null when the value is fine. */
export type Check = (value: unknown, object: object) => string | null;

interface Common {
  /** Required on create/PUT (default true). */
  required?: boolean;
  nullable?: boolean;
  description?: string;
}

/** A field validated by `check`, absent/null handled per the options, documented by `api`. */
export function field(
  name: string,
  options: Common,
  api: ApiPropertyOptions,
  check: Check,
): PropertyDecorator {
  const required = options.required ?? true;
  const nullable = options.nullable ?? false;
  const run = (value: unknown, object: object): string | null => {
    if (value === undefined) return required ? MESSAGES.required : null;
    if (value === null) return nullable ? null : MESSAGES.null;
    return check(value, object);
  };
  return applyDecorators(
    ApiProperty({
      ...api,
      required,
      ...(nullable ? { nullable: true } : {}),
      ...(options.description ? { description: options.description } : {}),
    } as ApiPropertyOptions),
    ValidateBy({
      name,
      validator: {
        validate: (value, args) => run(value, args?.object ?? {}) === null,
        defaultMessage: (args) => run(args?.value, args?.object ?? {}) ?? '',
      },
    }),
  );
}

export interface StringOptions extends Common {
  allowBlank?: boolean;
  maxLength?: number;
  /** A pattern the value must match, and DRF's message when it does not. */
  pattern?: { regex: RegExp; message: string };
  format?: 'email' | 'uri';
  /** A further check once the value is a string of the right length. */
  check?: (value: string, object: object) => string | null;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function checkString(options: StringOptions): Check {
  return (value, object) => {
    if (typeof value !== 'string') return typeof value === 'number' ? null : MESSAGES.string;
    if (value.trim() === '' && !options.allowBlank) return MESSAGES.blank;
    if (options.maxLength !== undefined && value.length > options.maxLength) {
      return MESSAGES.maxLength(options.maxLength);
    }
    if (value === '') return null;
    if (options.format === 'email' && !EMAIL.test(value)) return MESSAGES.email;
    if (options.pattern && !options.pattern.regex.test(value)) return options.pattern.message;
    return options.check ? options.check(value, object) : null;
  };
}

export function StringField(options: StringOptions = {}): PropertyDecorator {
  return field(
    'drfString',
    options,
    {
      type: String,
      ...(options.maxLength !== undefined ? { maxLength: options.maxLength } : {}),
      ...(options.allowBlank || options.required === false ? {} : { minLength: 1 }),
      ...(options.format ? { format: options.format } : {}),
    },
    checkString(options),
  );
}

export function IntegerField(options: Common & { minimum?: number } = {}): PropertyDecorator {
  return field('drfInteger', options, { type: 'integer' }, (value) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) return MESSAGES.integer;
    if (options.minimum !== undefined && value < options.minimum) return MESSAGES.minValue(options.minimum);
    return null;
  });
}

export function BooleanField(options: Common = {}): PropertyDecorator {
  return field('drfBoolean', options, { type: Boolean }, (value) =>
    typeof value === 'boolean' ? null : MESSAGES.boolean,
  );
}

export function ChoiceField(
  choices: readonly string[],
  enumName: string,
  options: Common = {},
): PropertyDecorator {
  return field('drfChoice', options, { enum: [...choices], enumName }, (value) =>
    typeof value === 'string' && choices.includes(value) ? null : MESSAGES.choice(value),
  );
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

export function UuidField(options: Common = {}): PropertyDecorator {
  return field('drfUuid', options, { type: String, format: 'uuid' }, (value) =>
    isUuid(value) ? null : MESSAGES.uuid,
  );
}

/** ISO 8601 with a date and a time, as DRF's DateTimeField parses it. */
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?$/i;

export function parseDateTime(value: unknown): Date | null {
  if (typeof value !== 'string' || !ISO_DATETIME.test(value)) return null;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return null;
  // JavaScript rolls 2024-02-30 over to March 1st; Python (and PostgreSQL) refuse it. Check the calendar date.
  const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const calendar = new Date(Date.UTC(year, month - 1, day));
  if (
    calendar.getUTCFullYear() !== year ||
    calendar.getUTCMonth() !== month - 1 ||
    calendar.getUTCDate() !== day
  ) {
    return null;
  }
  const hours = Number(value.slice(11, 13));
  const minutes = Number(value.slice(14, 16));
  return hours > 23 || minutes > 59 ? null : date;
}

export function DateTimeField(options: Common = {}): PropertyDecorator {
  return field('drfDateTime', options, { type: String, format: 'date-time' }, (value) =>
    parseDateTime(value) ? null : MESSAGES.datetime,
  );
}

/** A JSON object (authentik's `attributes`): a dict, never a list or a scalar. */
export function DictField(options: Common & { message?: string } = {}): PropertyDecorator {
  return field('drfDict', options, { type: 'object', additionalProperties: {} }, (value) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? null
      : (options.message ?? MESSAGES.dict(value)),
  );
}

/** A list whose every item passes `item` (the first failing item's message is the field's). */
export function ListField(
  item: Check,
  api: ApiPropertyOptions,
  options: Common & { maxItems?: number; maxItemsMessage?: string } = {},
): PropertyDecorator {
  return field('drfList', options, { isArray: true, ...api }, (value, object) => {
    if (!Array.isArray(value)) return MESSAGES.list(value);
    if (options.maxItems !== undefined && value.length > options.maxItems) {
      return options.maxItemsMessage ?? `Ensure this field has no more than ${options.maxItems} elements.`;
    }
    for (const entry of value) {
      const message = item(entry, object);
      if (message !== null) return message;
    }
    return null;
  });
}

export const uuidItem: Check = (value) => (isUuid(value) ? null : MESSAGES.uuid);
export const integerItem: Check = (value) =>
  typeof value === 'number' && Number.isSafeInteger(value) ? null : MESSAGES.integer;
export const stringItem: Check = (value) => (typeof value === 'string' ? null : MESSAGES.string);
