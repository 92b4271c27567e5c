import { ApiProperty, ApiPropertyOptional, type ApiQueryOptions } from '@nestjs/swagger';
import {
  CLIENT_TYPES,
  CONSENT_MODES,
  ISSUER_MODES,
  LOGOUT_METHODS,
  SUB_MODES,
} from '../../providers/oauth2-provider.entity';
import { USER_TYPES } from '../../identity/user.entity';

/*
 * OpenAPI components, named and shaped as in authentik's schema so generated clients see the same types. These
 * classes only describe the wire; the values come from the mappers in common/serializers.
 */

export class GenericError {
  @ApiProperty() detail!: string;
  @ApiPropertyOptional() code?: string;
}

export class ValidationError {
  @ApiPropertyOptional({ type: [String] }) non_field_errors?: string[];
  @ApiPropertyOptional() code?: string;
}

export class Pagination {
  @ApiProperty({ type: Number }) next!: number;
  @ApiProperty({ type: Number }) previous!: number;
  @ApiProperty({ type: Number }) count!: number;
  @ApiProperty({ type: Number }) current!: number;
  @ApiProperty({ type: Number }) total_pages!: number;
  @ApiProperty({ type: Number }) start_index!: number;
  @ApiProperty({ type: Number }) end_index!: number;
}

export class RedirectURI {
  @ApiProperty({ enum: ['strict', 'regex'], enumName: 'MatchingModeEnum' }) matching_mode!: string;
  @ApiProperty() url!: string;
  @ApiPropertyOptional({
    enum: ['authorization', 'logout'],
    enumName: 'RedirectUriTypeEnum',
    default: 'authorization',
  })
  redirect_uri_type?: string;
}

export class OAuth2Provider {
  @ApiProperty({ type: 'integer', readOnly: true, title: 'ID' }) pk!: number;
  @ApiProperty() name!: string;
  @ApiPropertyOptional({ format: 'uuid', nullable: true, type: String }) authentication_flow?: string | null;
  @ApiProperty({ format: 'uuid' }) authorization_flow!: string;
  @ApiProperty({ format: 'uuid' }) invalidation_flow!: string;
  @ApiPropertyOptional({ type: [String], format: 'uuid' }) property_mappings?: string[];
  @ApiProperty({ readOnly: true }) component!: string;
  @ApiProperty({ readOnly: true, nullable: true, type: String }) assigned_application_slug!: string | null;
  @ApiProperty({ readOnly: true, nullable: true, type: String }) assigned_application_name!: string | null;
  @ApiProperty({ readOnly: true, nullable: true, type: String }) assigned_backchannel_application_slug!:
    string | null;
  @ApiProperty({ readOnly: true, nullable: true, type: String }) assigned_backchannel_application_name!:
    string | null;
  @ApiProperty({ readOnly: true }) verbose_name!: string;
  @ApiProperty({ readOnly: true }) verbose_name_plural!: string;
  @ApiProperty({ readOnly: true }) meta_model_name!: string;
  @ApiPropertyOptional({ enum: CLIENT_TYPES, enumName: 'ClientTypeEnum' }) client_type?: string;
  @ApiPropertyOptional({ maxLength: 255 }) client_id?: string;
  @ApiPropertyOptional({
    maxLength: 255,
    description:
      'Grantry stores only a hash: the clear secret is in the response of the create or update that set it, and ' +
      'reads as "" afterwards. Absent from the token inventory.',
  })
  client_secret?: string;
  @ApiPropertyOptional() access_code_validity?: string;
  @ApiPropertyOptional() access_token_validity?: string;
  @ApiPropertyOptional() refresh_token_validity?: string;
  @ApiPropertyOptional() refresh_token_threshold?: string;
  @ApiPropertyOptional() include_claims_in_id_token?: boolean;
  @ApiPropertyOptional({ format: 'uuid', nullable: true, type: String }) signing_key?: string | null;
  @ApiPropertyOptional({ format: 'uuid', nullable: true, type: String }) encryption_key?: string | null;
  @ApiProperty({ type: [RedirectURI] }) redirect_uris!: RedirectURI[];
  @ApiPropertyOptional({ format: 'uri' }) logout_uri?: string;
  @ApiPropertyOptional({ enum: LOGOUT_METHODS, enumName: 'OAuth2ProviderLogoutMethodEnum' })
  logout_method?: string;
  @ApiPropertyOptional({ enum: SUB_MODES, enumName: 'SubModeEnum' }) sub_mode?: string;
  @ApiPropertyOptional({ enum: ISSUER_MODES, enumName: 'IssuerModeEnum' }) issuer_mode?: string;
  @ApiPropertyOptional({ type: [String], format: 'uuid' }) jwt_federation_sources?: string[];
  @ApiPropertyOptional({ type: 'integer', isArray: true }) jwt_federation_providers?: number[];
  @ApiPropertyOptional({ type: [String], description: 'Grantry: the grant types this provider allows.' })
  grant_types?: string[];
  @ApiPropertyOptional({
    enum: CONSENT_MODES,
    enumName: 'ConsentModeEnum',
    description: 'Grantry: when users are asked to allow the application (management API only).',
  })
  consent_mode?: string;
  @ApiPropertyOptional({
    description: 'Grantry: how long an expiring consent lasts (management API only).',
  })
  consent_expire_in?: string;
}

export class PartialGroup {
  @ApiProperty({ format: 'uuid', readOnly: true, title: 'Group uuid' }) pk!: string;
  @ApiProperty({ type: 'integer', readOnly: true }) num_pk!: number;
  @ApiProperty() name!: string;
  @ApiPropertyOptional() is_superuser?: boolean;
  @ApiPropertyOptional({ format: 'uuid', nullable: true, type: String }) parent?: string | null;
  @ApiPropertyOptional({ nullable: true, readOnly: true, type: String }) parent_name?: string | null;
  @ApiPropertyOptional({ type: 'object', additionalProperties: {} }) attributes?: Record<string, unknown>;
}

export class Role {
  @ApiProperty({ format: 'uuid', readOnly: true, title: 'Uuid' }) pk!: string;
  @ApiProperty() name!: string;
}

export class User {
  @ApiProperty({ type: 'integer', readOnly: true, title: 'ID' }) pk!: number;
  @ApiProperty({ maxLength: 150 }) username!: string;
  @ApiProperty() name!: string;
  @ApiPropertyOptional({ title: 'Active' }) is_active?: boolean;
  @ApiPropertyOptional({ format: 'date-time', nullable: true, type: String }) last_login?: string | null;
  @ApiProperty({ format: 'date-time', readOnly: true }) date_joined!: string;
  @ApiProperty({ readOnly: true }) is_superuser!: boolean;
  @ApiPropertyOptional({ type: [String], format: 'uuid' }) groups?: string[];
  @ApiProperty({ type: [PartialGroup], readOnly: true, nullable: true }) groups_obj!: PartialGroup[] | null;
  @ApiPropertyOptional({ type: [String], format: 'uuid' }) roles?: string[];
  @ApiProperty({ type: [Role], readOnly: true, nullable: true }) roles_obj!: Role[] | null;
  @ApiPropertyOptional({ format: 'email', maxLength: 254, title: 'Email address' }) email?: string;
  @ApiProperty({ readOnly: true }) avatar!: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: {} }) attributes?: Record<string, unknown>;
  @ApiProperty({ readOnly: true }) uid!: string;
  @ApiPropertyOptional() path?: string;
  @ApiPropertyOptional({ enum: USER_TYPES, enumName: 'UserTypeEnum' }) type?: string;
  @ApiProperty({ format: 'uuid', readOnly: true }) uuid!: string;
  @ApiProperty({ format: 'date-time', readOnly: true }) password_change_date!: string;
  @ApiProperty({ format: 'date-time', readOnly: true }) last_updated!: string;
}

export class ExpiringBaseGrantModel {
  @ApiProperty({ type: 'integer', readOnly: true, title: 'ID' }) pk!: number;
  @ApiProperty({ type: OAuth2Provider }) provider!: OAuth2Provider;
  @ApiProperty({ type: User }) user!: User;
  @ApiProperty({ readOnly: true }) is_expired!: boolean;
  @ApiPropertyOptional({ format: 'date-time', nullable: true, type: String }) expires?: string | null;
  @ApiProperty({ type: [String] }) scope!: string[];
}

export class TokenModel extends ExpiringBaseGrantModel {
  @ApiProperty({ readOnly: true }) id_token!: string;
  @ApiPropertyOptional() revoked?: boolean;
}

export class PaginatedTokenModelList {
  @ApiProperty({ type: Pagination }) pagination!: Pagination;
  @ApiProperty({ type: [TokenModel] }) results!: TokenModel[];
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/Autocomplete' }] }) autocomplete!: Record<
    string,
    never
  >;
}

export class PaginatedExpiringBaseGrantModelList {
  @ApiProperty({ type: Pagination }) pagination!: Pagination;
  @ApiProperty({ type: [ExpiringBaseGrantModel] }) results!: ExpiringBaseGrantModel[];
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/Autocomplete' }] }) autocomplete!: Record<
    string,
    never
  >;
}

export class UsedBy {
  @ApiProperty() app!: string;
  @ApiProperty() model_name!: string;
  @ApiProperty() pk!: string;
  @ApiProperty() name!: string;
  @ApiProperty({
    enum: ['cascade', 'cascade_many', 'set_null', 'set_default', 'left_dangling'],
    enumName: 'UsedByActionEnum',
  })
  action!: string;
}

const STRICT =
  "Validated strictly, unlike authentik's own parameters: an unparseable value is a 400 naming the parameter " +
  '(every bad one at once). An empty value is no filter.';
const NO_MATCH_IS_EMPTY = 'A name that matches nothing is not an error: the result is empty (count 0).';

/**
 * Grantry's incident filters (issue 14) as OpenAPI query parameters. Every description starts with "Grantry
 * extension", which is how the reference test tells them from authentik's parameters.
 */
export const INCIDENT_FILTER_QUERIES: ApiQueryOptions[] = [
  {
    name: 'revoked',
    required: false,
    type: Boolean,
    description: `Grantry extension: only revoked (true) or only unrevoked (false) grants; authorization codes have the flag too. true or false, case-insensitive. ${STRICT}`,
  },
  {
    name: 'is_expired',
    required: false,
    type: Boolean,
    description: `Grantry extension: only grants whose is_expired is true, or false. As the field computes it, a grant that does not expire (expiring = false) is never expired whatever its expires says, and neither is a grant without an expiry. ${STRICT}`,
  },
  {
    name: 'expires__lt',
    required: false,
    type: String,
    format: 'date-time',
    description: `Grantry extension: grants expiring before this instant. ISO 8601: a date (midnight UTC) or a date and time, seconds, fraction (millisecond precision) and Z or ±HH:MM optional, UTC without an offset (send + as %2B). Grants without an expiry never match. ${STRICT}`,
  },
  {
    name: 'expires__gte',
    required: false,
    type: String,
    format: 'date-time',
    description: `Grantry extension: grants expiring at or after this instant (ISO 8601, as expires__lt). Grants without an expiry never match. ${STRICT}`,
  },
  {
    name: 'created__lt',
    required: false,
    type: String,
    format: 'date-time',
    description: `Grantry extension: grants issued before this instant (ISO 8601, as expires__lt). ${STRICT}`,
  },
  {
    name: 'created__gte',
    required: false,
    type: String,
    format: 'date-time',
    description: `Grantry extension: grants issued at or after this instant (ISO 8601, as expires__lt). ${STRICT}`,
  },
  {
    name: 'valid_at',
    required: false,
    type: String,
    format: 'date-time',
    description: `Grantry extension: grants usable at this instant (ISO 8601, as expires__lt): issued by then, not expired then (a grant that does not expire never is), and not revoked by then. A grant revoked before Grantry recorded revocation times has no revoked_at and counts as possibly usable. ${STRICT}`,
  },
  {
    name: 'scope',
    required: false,
    type: String,
    description: `Grantry extension: grants whose scope contains every listed scope (whole scope words, separated by spaces or commas, at most 20). ${STRICT}`,
  },
  {
    name: 'application',
    required: false,
    type: String,
    description: `Grantry extension: an application's slug: the grants of the provider that application uses. ${NO_MATCH_IS_EMPTY} ${STRICT}`,
  },
  {
    name: 'client_id',
    required: false,
    type: String,
    description: `Grantry extension: a provider's client_id: that provider's grants. ${NO_MATCH_IS_EMPTY} ${STRICT}`,
  },
  {
    name: 'username',
    required: false,
    type: String,
    description: `Grantry extension: the exact (case-sensitive) username of the grants' user. ${NO_MATCH_IS_EMPTY} ${STRICT}`,
  },
];
