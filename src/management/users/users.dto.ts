import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import {
  BooleanField,
  ChoiceField,
  field,
  isUuid,
  MESSAGES,
  parseDateTime,
  ListField,
  type Check,
  pythonType,
  checkString,
  type StringOptions,
} from '../../common/validation/fields';
import { USER_TYPES } from '../../identity/user.entity';
import { Pagination, User } from '../../oauth2/grants/grant.openapi';
import { realCalendarDate } from './user-list-params';

/*
 * authentik's UserSerializer as a request (UserRequest / PatchedUserRequest), and the response components only the
 * users routes use. `User`, `PartialGroup`, `Role` and `Pagination` already exist (grant.openapi.ts): the nested user
 * of the token inventory is the same User.
 */

/** DRF's ProhibitNullCharactersValidator: PostgreSQL cannot store NUL in text either. */
export const NULL_CHARACTERS = 'Null characters are not allowed.';
const noNul = (value: string): string | null => (value.includes('\0') ? NULL_CHARACTERS : null);

export const ATTRIBUTES_MESSAGE = 'Value must be a dictionary, and not have any duplicate keys.';

/** authentik's `validate_path`. */
export function pathProblem(path: string): string | null {
  if (path.includes('\0')) return NULL_CHARACTERS;
  if (path.startsWith('/') || path.endsWith('/')) return 'No leading or trailing slashes allowed.';
  if (path.split('/').some((segment) => segment === '')) return 'No empty segments in user path allowed.';
  return null;
}

/** Whether a JSON value holds a NUL character in a key or a string (jsonb refuses `\u0000`). */
function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (Array.isArray(value)) return value.some(hasNul);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([key, inner]) => key.includes('\0') || hasNul(inner));
  }
  return false;
}

/**
 * An item of `groups`/`roles` (DRF's PrimaryKeyRelatedField over a UUID key): a UUID string (whether it exists is
 * the command's check), an integer (Django reads it as UUID(int=n), which never exists here), else DRF's messages.
 */
export const relatedPkItem: Check = (value) => {
  if (isUuid(value)) return null;
  if (typeof value === 'string') return `“${value.replace(/\0/g, '')}” is not a valid UUID.`;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
    return `Invalid pk "${value}" - object does not exist.`;
  }
  return `Incorrect type. Expected pk value, received ${pythonType(value)}.`;
};

/**
 * StringField, with DRF's reading of a number as its text (`str(data)`) before every check: the shared field lets a
 * number through unchecked, which would skip the length, e-mail and path checks of its text.
 */
function TextField(options: StringOptions = {}): PropertyDecorator {
  const check = checkString(options);
  return field(
    'drfText',
    options,
    {
      type: String,
      ...(options.maxLength !== undefined ? { maxLength: options.maxLength } : {}),
      ...(options.allowBlank || options.required === false ? {} : { minLength: 1 }),
      ...(options.format ? { format: options.format } : {}),
    },
    (value, object) => check(typeof value === 'number' ? String(value) : value, object),
  );
}

export class UserRequest {
  @TextField({ maxLength: 150, check: noNul })
  username!: string;

  @TextField({ allowBlank: true, check: noNul, description: "User's display name." })
  name!: string;

  @BooleanField({
    required: false,
    description:
      'Designates whether this user should be treated as active. Unselect this instead of deleting accounts.',
  })
  is_active?: boolean;

  // DateTimeField's check plus a real calendar date: PostgreSQL refuses 30 February, which Date rolls over.
  @field(
    'drfLastLogin',
    { required: false, nullable: true },
    { type: String, format: 'date-time' },
    (value) =>
      parseDateTime(value) && typeof value === 'string' && realCalendarDate(value) ? null : MESSAGES.datetime,
  )
  last_login?: string | null;

  @ListField(relatedPkItem, { type: String, format: 'uuid' }, { required: false })
  groups?: string[];

  @ListField(relatedPkItem, { type: String, format: 'uuid' }, { required: false })
  roles?: string[];

  @TextField({ required: false, allowBlank: true, maxLength: 254, format: 'email', check: noNul })
  email?: string;

  @field('drfAttributes', { required: false }, { type: 'object', additionalProperties: {} }, (value) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return ATTRIBUTES_MESSAGE;
    return hasNul(value) ? NULL_CHARACTERS : null;
  })
  attributes?: Record<string, unknown>;

  @TextField({ required: false, check: pathProblem })
  path?: string;

  @ChoiceField(USER_TYPES, 'UserTypeEnum', { required: false })
  type?: (typeof USER_TYPES)[number];
}

export class PatchedUserRequest extends PartialType(UserRequest, { skipNullProperties: false }) {}

export class UserPasswordSetRequest {
  @ApiProperty({ type: String, minLength: 1 }) password!: string;
}

export class PaginatedUserList {
  @ApiProperty({ type: Pagination }) pagination!: Pagination;
  @ApiProperty({ type: [User] }) results!: User[];
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/Autocomplete' }] }) autocomplete!: Record<
    string,
    unknown
  >;
}

export class UserSelfGroups {
  @ApiProperty({ readOnly: true }) name!: string;
  @ApiProperty({ readOnly: true }) pk!: string;
}

export class UserSelfRoles {
  @ApiProperty({ readOnly: true }) name!: string;
  @ApiProperty({ readOnly: true }) pk!: string;
}

export class UserSelf {
  @ApiProperty({ type: 'integer', readOnly: true, title: 'ID' }) pk!: number;
  @ApiProperty({ maxLength: 150, pattern: '^[\\w.@+-]+$' }) username!: string;
  @ApiProperty({ description: "User's display name." }) name!: string;
  @ApiProperty({ readOnly: true, title: 'Active' }) is_active!: boolean;
  @ApiProperty({ readOnly: true }) is_superuser!: boolean;
  @ApiPropertyOptional({
    readOnly: true,
    description: 'Return whether this user owns the current browser session.',
  })
  is_current?: boolean;
  @ApiProperty({ type: [UserSelfGroups], readOnly: true }) groups!: UserSelfGroups[];
  @ApiProperty({ type: [UserSelfRoles], readOnly: true }) roles!: UserSelfRoles[];
  @ApiPropertyOptional({ format: 'email', maxLength: 254, title: 'Email address' }) email?: string;
  @ApiProperty({ readOnly: true }) avatar!: string;
  @ApiProperty({ readOnly: true }) uid!: string;
  @ApiProperty({ type: 'object', additionalProperties: {}, readOnly: true }) settings!: Record<
    string,
    unknown
  >;
  @ApiPropertyOptional({ enum: USER_TYPES, enumName: 'UserTypeEnum' }) type?: string;
  @ApiProperty({ type: [String], readOnly: true }) system_permissions!: string[];
}

export class SessionUser {
  @ApiProperty({ type: UserSelf }) user!: UserSelf;
  @ApiPropertyOptional({ type: UserSelf }) original?: UserSelf;
  @ApiPropertyOptional({ type: [UserSelf] }) users?: UserSelf[];
}
