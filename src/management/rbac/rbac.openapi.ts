import { ApiProperty, PartialType } from '@nestjs/swagger';
import { Pagination, Role } from '../../oauth2/grants/grant.openapi';
import { field, ListField, MESSAGES, StringField } from '../../common/validation/fields';
import { MODEL_ENUM } from './model-enum';

/*
 * Request and response components of /rbac/, named and shaped as in authentik's schema. `Role` itself is declared
 * once, in src/oauth2/grants/grant.openapi.ts.
 */

export class RoleRequest {
  // authentik's Role.name is a TextField(max_length=150): DRF checks the length.
  @StringField({
    maxLength: 150,
    check: (value) => (value.includes('\0') ? 'Null characters are not allowed.' : null),
  })
  name!: string;
}

export class PatchedRoleRequest extends PartialType(RoleRequest, { skipNullProperties: false }) {}

export class PaginatedRoleList {
  @ApiProperty({ type: Pagination }) pagination!: Pagination;
  @ApiProperty({ type: [Role] }) results!: Role[];
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/Autocomplete' }] }) autocomplete!: Record<
    string,
    never
  >;
}

export class Permission {
  @ApiProperty({ type: 'integer', readOnly: true }) id!: number;
  @ApiProperty({ maxLength: 255 }) name!: string;
  @ApiProperty({ maxLength: 100 }) codename!: string;
  @ApiProperty({ readOnly: true, title: 'Python model class name' }) model!: string;
  @ApiProperty({ readOnly: true }) app_label!: string;
  @ApiProperty({ readOnly: true, description: 'Human-readable app label' }) app_label_verbose!: string;
  @ApiProperty({ readOnly: true, description: 'Human-readable model name' }) model_verbose!: string;
}

export class PaginatedPermissionList {
  @ApiProperty({ type: Pagination }) pagination!: Pagination;
  @ApiProperty({ type: [Permission] }) results!: Permission[];
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/Autocomplete' }] }) autocomplete!: Record<
    string,
    never
  >;
}

const permissionItem = (value: unknown): string | null => {
  if (typeof value !== 'string') return typeof value === 'number' ? null : MESSAGES.string;
  return value.trim() === '' ? MESSAGES.blank : null;
};

export class PermissionAssignRequest {
  @ListField(permissionItem, { type: String, minLength: 1 }) permissions!: string[];

  @field('drfChoice', { required: false }, { enum: [...MODEL_ENUM], enumName: 'ModelEnum' }, (value) =>
    typeof value === 'string' && (MODEL_ENUM as readonly string[]).includes(value)
      ? null
      : MESSAGES.choice(value),
  )
  model?: string;

  @StringField({ required: false }) object_pk?: string;
}

export class PatchedPermissionAssignRequest extends PartialType(PermissionAssignRequest, {
  skipNullProperties: false,
}) {}

export class PermissionAssignResult {
  @ApiProperty() id!: string;
}
