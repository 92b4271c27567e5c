import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import {
  BooleanField,
  field,
  IntegerField,
  integerItem,
  ListField,
  StringField,
  type Check,
} from '../../common/validation/fields';
import { Pagination, Role } from '../../oauth2/grants/grant.openapi';

/*
 * Components of /core/groups/, named and shaped as in authentik's schema. PartialUser and UserAccountRequest are
 * used by groups here; the users slice uses them too (one declaration each; move them when merging if needed).
 */

export class PartialUser {
  @ApiProperty({ type: 'integer', readOnly: true, title: 'ID' }) pk!: number;
  @ApiProperty({ maxLength: 150, pattern: '^[\\w.@+-]+$' }) username!: string;
  @ApiProperty({ description: "User's display name." }) name!: string;
  @ApiPropertyOptional({ title: 'Active' }) is_active?: boolean;
  @ApiPropertyOptional({ format: 'date-time', nullable: true, type: String }) last_login?: string | null;
  @ApiPropertyOptional({ format: 'email', maxLength: 254, title: 'Email address' }) email?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: {} }) attributes?: Record<string, unknown>;
  @ApiProperty({ readOnly: true }) uid!: string;
}

export class RelatedGroup {
  @ApiProperty({ format: 'uuid', readOnly: true, title: 'Group uuid' }) pk!: string;
  @ApiProperty() name!: string;
  @ApiPropertyOptional({ description: 'Users added to this group will be superusers.' })
  is_superuser?: boolean;
  @ApiPropertyOptional({ type: 'object', additionalProperties: {} }) attributes?: Record<string, unknown>;
  @ApiProperty({ format: 'uuid', readOnly: true }) group_uuid!: string;
}

export class Group {
  @ApiProperty({ format: 'uuid', readOnly: true, title: 'Group uuid' }) pk!: string;
  @ApiProperty({ type: 'integer', readOnly: true }) num_pk!: number;
  @ApiProperty() name!: string;
  @ApiPropertyOptional({ description: 'Users added to this group will be superusers.' })
  is_superuser?: boolean;
  @ApiPropertyOptional({ type: [String], format: 'uuid' }) parents?: string[];
  @ApiProperty({ type: [RelatedGroup], readOnly: true, nullable: true }) parents_obj!: RelatedGroup[] | null;
  @ApiPropertyOptional({ type: 'integer', isArray: true }) users?: number[];
  @ApiProperty({ type: [PartialUser], readOnly: true, nullable: true }) users_obj!: PartialUser[] | null;
  @ApiPropertyOptional({ type: 'object', additionalProperties: {} }) attributes?: Record<string, unknown>;
  @ApiPropertyOptional({ type: [String], format: 'uuid' }) roles?: string[];
  @ApiProperty({ type: [Role], readOnly: true }) roles_obj!: Role[];
  @ApiProperty({ type: [Role], readOnly: true, nullable: true }) inherited_roles_obj!: Role[] | null;
  @ApiProperty({ type: [String], format: 'uuid', readOnly: true }) children!: string[];
  @ApiProperty({ type: [RelatedGroup], readOnly: true, nullable: true }) children_obj!: RelatedGroup[] | null;
}

export class PaginatedGroupList {
  @ApiProperty({ type: Pagination }) pagination!: Pagination;
  @ApiProperty({ type: [Group] }) results!: Group[];
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/Autocomplete' }] }) autocomplete!: Record<
    string,
    never
  >;
}

/** DRF's PrimaryKeyRelatedField(many=True) for a UUID pk: the type is checked here, existence in the handler. */
const pkItem: Check = (value) =>
  typeof value === 'string' ? null : `Incorrect type. Expected pk value, received ${pythonName(value)}.`;

const intPkItem: Check = (value) =>
  integerItem(value, {}) === null || typeof value === 'string'
    ? null
    : `Incorrect type. Expected pk value, received ${pythonName(value)}.`;

function pythonName(value: unknown): string {
  if (value === null) return 'NoneType';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'object') return 'dict';
  return 'str';
}

/** DRF's ProhibitNullCharactersValidator on every CharField (PostgreSQL cannot store NUL in text or jsonb). */
export const NUL_MESSAGE = 'Null characters are not allowed.';
export const noNul = (value: string): string | null => (value.includes('\0') ? NUL_MESSAGE : null);

/** Whether a JSON value holds a NUL character in a string or a key (jsonb refuses \u0000). */
export function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (Array.isArray(value)) return value.some(hasNul);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([key, inner]) => key.includes('\0') || hasNul(inner));
  }
  return false;
}

export const ATTRIBUTES_MESSAGE = 'Value must be a dictionary, and not have any duplicate keys.';

export class GroupRequest {
  // Grantry's groups.name is varchar(80) (authentik's is a TextField): the limit is checked like a max_length.
  @StringField({ maxLength: 80, check: noNul }) name!: string;
  @BooleanField({ required: false, description: 'Users added to this group will be superusers.' })
  is_superuser?: boolean;
  @ListField(pkItem, { type: String, format: 'uuid' }, { required: false }) parents?: string[];
  @ListField(intPkItem, { type: 'integer' }, { required: false }) users?: number[];
  @field('drfDict', { required: false }, { type: 'object', additionalProperties: {} }, (value) =>
    value === null || typeof value !== 'object' || Array.isArray(value)
      ? ATTRIBUTES_MESSAGE
      : hasNul(value)
        ? NUL_MESSAGE
        : null,
  )
  attributes?: Record<string, unknown>;
  @ListField(pkItem, { type: String, format: 'uuid' }, { required: false }) roles?: string[];
}

export class PatchedGroupRequest extends PartialType(GroupRequest, { skipNullProperties: false }) {}

export class UserAccountRequest {
  @IntegerField() pk!: number;
}
