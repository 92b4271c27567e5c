import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import {
  BooleanField,
  ChoiceField,
  field,
  integerItem,
  ListField,
  MESSAGES,
  pythonType,
  StringField,
} from '../../common/validation/fields';
import { Pagination } from '../../oauth2/grants/grant.openapi';
import { POLICY_ENGINE_MODES } from '../../providers/application.entity';
import { text } from '../providers/provider.dto';

/** Django's validate_slug message (with its curly quotes). */
export const SLUG_MESSAGE =
  'Enter a valid \u201cslug\u201d consisting of letters, numbers, underscores or hyphens.';
export const SLUG_PATTERN = /^[-a-zA-Z0-9_]+$/;

/**
 * authentik's DomainlessFormattedURLValidator for meta_launch_url: a URL whose host may be a `%(...)s` placeholder
 * (formatted with the user's data when served), with schemes http, https, blank, ssh and sftp.
 */
export function launchUrlCheck(value: string): string | null {
  if (/\s/.test(value)) return MESSAGES.url;
  const plain = value.replace(/%\([^)]*\)s/g, 'x');
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]+)/i.exec(plain);
  if (!match?.[1] || !['http', 'https', 'blank', 'ssh', 'sftp'].includes(match[1].toLowerCase())) {
    return MESSAGES.url;
  }
  try {
    new URL(plain);
  } catch {
    return MESSAGES.url;
  }
  return null;
}

/** DRF's PrimaryKeyRelatedField for `provider`: an integer (or its string), else "Incorrect type". */
function providerCheck(value: unknown): string | null {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return null;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return null;
  return `Incorrect type. Expected pk value, received ${pythonType(value)}.`;
}

export class ApplicationRequest {
  @StringField({ check: text(), description: "Application's display Name." }) name!: string;
  @StringField({
    maxLength: 50,
    pattern: { regex: SLUG_PATTERN, message: SLUG_MESSAGE },
    check: text(),
    description: 'Internal application name, used in URLs.',
  })
  slug!: string;
  @field('drfProviderPk', { required: false, nullable: true }, { type: 'integer' }, providerCheck)
  provider?: number | string | null;
  @ListField(integerItem, { type: 'integer' }, { required: false })
  backchannel_providers?: number[];
  @BooleanField({ required: false, description: 'Open launch URL in a new browser tab or window.' })
  open_in_new_tab?: boolean;
  @StringField({ required: false, allowBlank: true, format: 'uri', check: text(launchUrlCheck) })
  meta_launch_url?: string;
  @StringField({ required: false, allowBlank: true, check: text() }) meta_icon?: string;
  @StringField({ required: false, allowBlank: true, check: text() }) meta_description?: string;
  @StringField({ required: false, allowBlank: true, check: text() }) meta_publisher?: string;
  @ChoiceField(POLICY_ENGINE_MODES, 'PolicyEngineMode', { required: false }) policy_engine_mode?: string;
  @StringField({ required: false, allowBlank: true, check: text() }) group?: string;
}

export class PatchedApplicationRequest extends PartialType(ApplicationRequest, {
  skipNullProperties: false,
}) {}

/** authentik's base Provider serializer (an application's provider_obj): no client_secret, no OAuth2 settings. */
export class Provider {
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
}

export class ThemedUrls {
  @ApiPropertyOptional({ nullable: true, type: String }) light?: string | null;
  @ApiPropertyOptional({ nullable: true, type: String }) dark?: string | null;
}

export class Application {
  @ApiProperty({ format: 'uuid', readOnly: true, title: 'Pbm uuid' }) pk!: string;
  @ApiProperty({ description: "Application's display Name." }) name!: string;
  @ApiProperty({ pattern: '^[-a-zA-Z0-9_]+$', description: 'Internal application name, used in URLs.' })
  slug!: string;
  @ApiPropertyOptional({ type: 'integer', nullable: true }) provider?: number | null;
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/Provider' }], readOnly: true, nullable: true })
  provider_obj!: Provider | null;
  @ApiPropertyOptional({ type: 'integer', isArray: true }) backchannel_providers?: number[];
  @ApiProperty({ type: [Provider], readOnly: true }) backchannel_providers_obj!: Provider[];
  @ApiProperty({
    type: String,
    nullable: true,
    readOnly: true,
    description: 'Allow formatting of launch URL',
  })
  launch_url!: string | null;
  @ApiPropertyOptional() open_in_new_tab?: boolean;
  @ApiPropertyOptional({ format: 'uri' }) meta_launch_url?: string;
  @ApiPropertyOptional() meta_icon?: string;
  @ApiProperty({ type: String, nullable: true, readOnly: true }) meta_icon_url!: string | null;
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/ThemedUrls' }], readOnly: true, nullable: true })
  meta_icon_themed_urls!: ThemedUrls | null;
  @ApiPropertyOptional() meta_description?: string;
  @ApiPropertyOptional() meta_publisher?: string;
  @ApiPropertyOptional({ enum: POLICY_ENGINE_MODES, enumName: 'PolicyEngineMode' })
  policy_engine_mode?: string;
  @ApiPropertyOptional() group?: string;
}

export class PaginatedApplicationList {
  @ApiProperty({ type: Pagination }) pagination!: Pagination;
  @ApiProperty({ type: [Application] }) results!: Application[];
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/Autocomplete' }] }) autocomplete!: Record<
    string,
    never
  >;
}
