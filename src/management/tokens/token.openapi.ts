import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import {
  BooleanField,
  ChoiceField,
  DateTimeField,
  field,
  MESSAGES,
  pythonType,
  StringField,
} from '../../common/validation/fields';
import { Pagination, User } from '../../oauth2/grants/grant.openapi';

/** authentik's IntentEnum, in the schema's order. The API accepts only `api` and `app_password` (see validate). */
export const INTENT_ENUM = ['verification', 'api', 'recovery', 'app_password'] as const;

export const IDENTIFIER_PATTERN = /^[-a-zA-Z0-9_]+$/;

/** DRF's PrimaryKeyRelatedField: a pk (an integer, or a string of one); existence is the handler's check. */
function tokenUser(): PropertyDecorator {
  return field('tokenUser', { required: false }, { type: 'integer' }, (value) =>
    (typeof value === 'number' && Number.isSafeInteger(value)) ||
    (typeof value === 'string' && /^\s*\d{1,15}\s*$/.test(value))
      ? null
      : `Incorrect type. Expected pk value, received ${pythonType(value)}.`,
  );
}

const MANAGED_DESCRIPTION =
  'Objects that are managed by authentik. These objects are created and updated automatically. This flag only ' +
  'indicates that an object can be overwritten by migrations. You can still modify the objects via the API, but ' +
  'expect changes to be overwritten in a later update.';

/** authentik's TokenRequest (POST, PUT). */
export class TokenRequest {
  @StringField({
    required: false,
    nullable: true,
    description: MANAGED_DESCRIPTION,
    check: (value) => (value.includes('\0') ? 'Null characters are not allowed.' : null),
  })
  managed?: string | null;

  @StringField({ maxLength: 255, pattern: { regex: IDENTIFIER_PATTERN, message: MESSAGES.slug } })
  identifier!: string;

  @ChoiceField(INTENT_ENUM, 'IntentEnum', { required: false })
  intent?: string;

  @tokenUser()
  user?: number | string;

  @StringField({
    required: false,
    allowBlank: true,
    check: (value) => (value.includes('\0') ? 'Null characters are not allowed.' : null),
  })
  description?: string;

  @DateTimeField({ required: false, nullable: true })
  expires?: string | null;

  @BooleanField({ required: false })
  expiring?: boolean;
}

/** authentik's PatchedTokenRequest. */
export class PatchedTokenRequest extends PartialType(TokenRequest, { skipNullProperties: false }) {}

/** authentik's TokenSetKeyRequest (documented only: set_key/ reads its body itself, to answer DRF's empty 400). */
export class TokenSetKeyRequest {
  @ApiProperty({ minLength: 1 }) key!: string;
}

export class TokenView {
  @ApiProperty({ readOnly: true }) key!: string;
}

export class Token {
  @ApiProperty({ format: 'uuid', readOnly: true, title: 'Token uuid' }) pk!: string;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    title: 'Managed by authentik',
    description: MANAGED_DESCRIPTION,
  })
  managed?: string | null;
  @ApiProperty({ maxLength: 255, pattern: '^[-a-zA-Z0-9_]+$' }) identifier!: string;
  @ApiPropertyOptional({ enum: INTENT_ENUM, enumName: 'IntentEnum' }) intent?: string;
  @ApiPropertyOptional({ type: 'integer' }) user?: number;
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/User' }], readOnly: true }) user_obj!: User;
  @ApiPropertyOptional() description?: string;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true }) expires?: string | null;
  @ApiPropertyOptional() expiring?: boolean;
}

export class PaginatedTokenList {
  @ApiProperty({ type: Pagination }) pagination!: Pagination;
  @ApiProperty({ type: [Token] }) results!: Token[];
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/Autocomplete' }] }) autocomplete!: Record<
    string,
    never
  >;
}
