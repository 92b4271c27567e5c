import { ApiProperty, PartialType } from '@nestjs/swagger';
import {
  BooleanField,
  ChoiceField,
  field,
  integerItem,
  ListField,
  MESSAGES,
  StringField,
  UuidField,
  uuidItem,
} from '../../common/validation/fields';
import { OAuth2Provider, Pagination } from '../../oauth2/grants/grant.openapi';
import {
  CLIENT_TYPES,
  CONSENT_MODES,
  ISSUER_MODES,
  LOGOUT_METHODS,
  SUB_MODES,
} from '../../providers/oauth2-provider.entity';
import { parseTimedelta } from '../../providers/timedelta';

/** DRF CharField's ProhibitNullCharactersValidator (PostgreSQL cannot store NUL in text or jsonb). */
export const NUL_MESSAGE = 'Null characters are not allowed.';

/** A StringField check refusing NUL characters before `then`. */
export function text(then?: (value: string) => string | null): (value: string) => string | null {
  return (value) => (value.includes('\0') ? NUL_MESSAGE : (then?.(value) ?? null));
}

/** authentik's timedelta_string_validator message; Grantry's parser is stricter (unknown keys, negative totals). */
export function validityMessage(value: string): string {
  return `${value} is not in the correct format of 'hours=3;minutes=1'.`;
}

export function validityCheck(value: string): string | null {
  try {
    parseTimedelta(value);
    return null;
  } catch {
    return validityMessage(value);
  }
}

/** DRF URLField with authentik's DomainlessURLValidator: http(s), a host (no dot needed), no whitespace. */
export function urlCheck(schemes: readonly string[]): (value: string) => string | null {
  return (value) => {
    if (/\s/.test(value)) return MESSAGES.url;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return MESSAGES.url;
    }
    const scheme = url.protocol.slice(0, -1);
    if (!schemes.includes(scheme)) return MESSAGES.url;
    if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#]+/i.test(value)) return MESSAGES.url;
    return null;
  };
}

const validity = (): PropertyDecorator =>
  StringField({
    required: false,
    check: text(validityCheck),
    description: 'Format: hours=1;minutes=2;seconds=3.',
  });

export class RedirectURIRequest {
  @ApiProperty({ enum: ['strict', 'regex'], enumName: 'MatchingModeEnum' }) matching_mode!: string;
  @ApiProperty({ minLength: 1 }) url!: string;
  @ApiProperty({
    enum: ['authorization', 'logout'],
    enumName: 'RedirectUriTypeEnum',
    default: 'authorization',
    required: false,
  })
  redirect_uri_type?: string;
}

/**
 * authentik's OAuth2ProviderRequest. Flows: Grantry runs none, so any UUID is accepted and echoed back. The items of
 * `redirect_uris` are checked by the command (src/management/providers/provider-input.ts), which answers DRF's nested
 * per-item errors.
 */
export class OAuth2ProviderRequest {
  @StringField({ check: text() }) name!: string;
  @UuidField({ required: false, nullable: true }) authentication_flow?: string | null;
  @UuidField({ description: 'Grantry runs no flows: any UUID is accepted and echoed back.' })
  authorization_flow!: string;
  @UuidField({ description: 'Grantry runs no flows: any UUID is accepted and echoed back.' })
  invalidation_flow!: string;
  @ListField(uuidItem, { type: String, format: 'uuid' }, { required: false })
  property_mappings?: string[];
  @ChoiceField(CLIENT_TYPES, 'ClientTypeEnum', { required: false }) client_type?: string;
  @StringField({ required: false, maxLength: 255, check: text() }) client_id?: string;
  @StringField({ required: false, maxLength: 255, allowBlank: true, check: text() }) client_secret?: string;
  @validity() access_code_validity?: string;
  @validity() access_token_validity?: string;
  @validity() refresh_token_validity?: string;
  @validity() refresh_token_threshold?: string;
  @BooleanField({ required: false }) include_claims_in_id_token?: boolean;
  @UuidField({ required: false, nullable: true }) signing_key?: string | null;
  @UuidField({ required: false, nullable: true }) encryption_key?: string | null;
  @field('drfRedirectUris', {}, { type: [RedirectURIRequest] }, (value) =>
    Array.isArray(value) ? null : MESSAGES.list(value),
  )
  redirect_uris!: unknown[];
  @StringField({ required: false, allowBlank: true, format: 'uri', check: text(urlCheck(['http', 'https'])) })
  logout_uri?: string;
  @ChoiceField(LOGOUT_METHODS, 'OAuth2ProviderLogoutMethodEnum', { required: false }) logout_method?: string;
  @ChoiceField(SUB_MODES, 'SubModeEnum', { required: false }) sub_mode?: string;
  @ChoiceField(ISSUER_MODES, 'IssuerModeEnum', { required: false }) issuer_mode?: string;
  @ListField(uuidItem, { type: String, format: 'uuid' }, { required: false })
  jwt_federation_sources?: string[];
  @ListField(integerItem, { type: 'integer' }, { required: false })
  jwt_federation_providers?: number[];
  @ChoiceField(CONSENT_MODES, 'ConsentModeEnum', {
    required: false,
    description: 'Grantry: when users are asked to allow the application.',
  })
  consent_mode?: string;
  @StringField({
    required: false,
    check: text(validityCheck),
    description: 'Grantry: how long an expiring consent lasts.',
  })
  consent_expire_in?: string;
}

export class PatchedOAuth2ProviderRequest extends PartialType(OAuth2ProviderRequest, {
  skipNullProperties: false,
}) {}

export class PaginatedOAuth2ProviderList {
  @ApiProperty({ type: Pagination }) pagination!: Pagination;
  @ApiProperty({ type: [OAuth2Provider] }) results!: OAuth2Provider[];
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/Autocomplete' }] }) autocomplete!: Record<
    string,
    never
  >;
}

export class OAuth2ProviderSetupURLs {
  @ApiProperty({ readOnly: true }) issuer!: string;
  @ApiProperty({ readOnly: true }) authorize!: string;
  @ApiProperty({ readOnly: true }) token!: string;
  @ApiProperty({ readOnly: true }) user_info!: string;
  @ApiProperty({ readOnly: true }) provider_info!: string;
  @ApiProperty({ readOnly: true }) logout!: string;
  @ApiProperty({ readOnly: true }) jwks!: string;
}

export class PropertyMappingPreview {
  @ApiProperty({ type: 'object', additionalProperties: {}, readOnly: true }) preview!: Record<
    string,
    unknown
  >;
}
