import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ValidationApiError, type ValidationErrorBody } from '../../common/errors/api-error';
import { BooleanField, field, IntegerField, MESSAGES } from '../../common/validation/fields';
import { validateBody } from '../../management/common/validate-body';
import type { GrantKind } from './grant-kind';
import {
  type FilterParams,
  INCIDENT_FILTER_NAMES,
  type IncidentFilterName,
  INVALID_SLUG,
  parseDateTime,
  SLUG,
} from './list-params';

/*
 * The body of POST /api/v3/oauth2/<type>/bulk_revoke/ (a Grantry extension, issue 14): the list's filters as JSON
 * members, validated strictly. A destructive operation must not guess, so, unlike DRF's serializers (and the global
 * pipe, which drops what a DTO does not declare), an unknown member is a 400 naming it: a misspelt filter
 * (`"usr": 5`) would otherwise widen the predicate to more grants than meant.
 */

const MAX_INT4 = 2_147_483_647;

/** A string, strictly (DRF's CharField would take a number as its text; a filter value must be what was meant). */
function StrictString(
  maxLength: number,
  description: string,
  pattern?: { regex: RegExp; message: string },
): PropertyDecorator {
  return field(
    'bulkString',
    { required: false, description },
    { type: String, maxLength, minLength: 1, ...(pattern ? { pattern: pattern.regex.source } : {}) },
    (value) => {
      if (typeof value !== 'string') return MESSAGES.string;
      if (value.trim() === '') return MESSAGES.blank;
      if (value.includes('\0')) return 'Null characters are not allowed.';
      if (value.length > maxLength) return MESSAGES.maxLength(maxLength);
      return pattern && !pattern.regex.test(value) ? pattern.message : null;
    },
  );
}

/** As the list's `application` (list-params): a value that cannot be a slug is a mistake, not an empty match. */
const APPLICATION_SLUG = { regex: SLUG, message: INVALID_SLUG };

/** Scopes as the query takes them (one string, space- or comma-separated) or as a JSON list of scope strings. */
const SCOPE_TERM = /^[\x21\x23-\x5b\x5d-\x7e]+$/; // RFC 6749's scope-token characters
export function scopeTerms(value: unknown): string[] | string {
  const terms =
    typeof value === 'string'
      ? value.split(/[\s,]+/).filter(Boolean)
      : Array.isArray(value) && value.every((item) => typeof item === 'string')
        ? value.flatMap((item) => item.split(/[\s,]+/)).filter(Boolean)
        : undefined;
  if (terms === undefined) return 'Expected a string of scopes or a list of scope strings.';
  if (terms.length === 0) return MESSAGES.blank;
  if (terms.length > 20) return 'Ensure this field has no more than 20 scopes.';
  if (!terms.every((term) => SCOPE_TERM.test(term) && term.length <= 255)) return 'Not a valid scope.';
  return [...new Set(terms)];
}

const FILTER_DESCRIPTION = 'Filter, as the list query parameter of the same name.';

export class GrantBulkRevokeRequest {
  @IntegerField({ required: false, description: 'The owner: a user pk (as the list `user` parameter).' })
  user?: number;

  @IntegerField({ required: false, description: 'An OAuth2 provider pk (as the list `provider` parameter).' })
  provider?: number;

  @BooleanField({ required: false, description: FILTER_DESCRIPTION })
  is_expired?: boolean;

  @InstantField('Grants expiring before this instant (ISO 8601).')
  expires__lt?: string;

  @InstantField('Grants expiring at or after this instant (ISO 8601).')
  expires__gte?: string;

  @InstantField('Grants issued before this instant (ISO 8601).')
  created__lt?: string;

  @InstantField('Grants issued at or after this instant (ISO 8601).')
  created__gte?: string;

  @InstantField(
    'Grants usable at this instant (ISO 8601): issued by then, not expired then, not revoked by then (a grant ' +
      'revoked at an unknown time counts as possibly usable).',
  )
  valid_at?: string;

  @field(
    'bulkScope',
    {
      required: false,
      description:
        'Grants whose scope contains every one of these: a space- or comma-separated string, or a list of strings.',
    },
    { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    (value) => {
      const terms = scopeTerms(value);
      return typeof terms === 'string' ? terms : null;
    },
  )
  scope?: string | string[];

  @StrictString(50, "An application's slug: grants of the provider that application uses.", APPLICATION_SLUG)
  application?: string;

  @StrictString(255, "A provider's client_id.")
  client_id?: string;

  @StrictString(150, "A user's exact username.")
  username?: string;

  @BooleanField({
    required: false,
    description: 'Count and list the first ids of what would be revoked, writing nothing (default false).',
  })
  dry_run?: boolean;
}

export class RefreshTokenBulkRevokeRequest extends GrantBulkRevokeRequest {
  @BooleanField({
    required: false,
    description:
      'Also revoke the access tokens issued under the matching refresh tokens: every access token of the same ' +
      'authorization (`family_id`) as a refresh token the filters match, revoked or not (default false).',
  })
  include_access_tokens?: boolean;
}

/**
 * Body members that are filters, in the order the 400 for an empty predicate names them: the list's `user` and
 * `provider`, then its incident filters but `revoked` (a bulk revocation revokes what is not revoked yet).
 */
export const BULK_FILTER_KEYS: readonly ('user' | 'provider' | Exclude<IncidentFilterName, 'revoked'>)[] = [
  'user',
  'provider',
  ...INCIDENT_FILTER_NAMES.filter(
    (name): name is Exclude<IncidentFilterName, 'revoked'> => name !== 'revoked',
  ),
];

export const EMPTY_PREDICATE =
  `At least one filter is required: ${BULK_FILTER_KEYS.join(', ')}. ` +
  'A bulk revocation of every grant is refused; to mean it, say so with a filter (e.g. "is_expired": false).';
export const REVOKED_NOT_A_FILTER =
  'Not a filter of bulk_revoke: it always acts on the grants not yet revoked (true would match nothing, false is ' +
  'implied).';
export const INCLUDE_ACCESS_TOKENS_ONLY = 'Only refresh_tokens/bulk_revoke/ takes this field.';
export const unknownField = (kind: GrantKind): string =>
  `Unknown field. ${kind.path.slice('oauth2/'.length)}/bulk_revoke/ takes ${[
    ...BULK_FILTER_KEYS,
    'dry_run',
    ...(kind.table === 'oauth2_refresh_tokens' ? ['include_access_tokens'] : []),
  ].join(', ')}.`;

/**
 * An instant in the body: what the list's query parameter of the same name accepts (list-params' parseDateTime, as
 * django-filter reads it: a date alone is midnight UTC; a date-time without an offset is UTC), so a predicate
 * written for the list, or the CLI's `--expires-lt 2030-01-01`, revokes what the list shows. Except the query
 * string's " HH:MM" for an unencoded "+HH:MM", which a JSON body has no reason to send.
 */
function instant(value: unknown): Date | undefined {
  if (typeof value !== 'string' || /\d{2}:\d{2}(:\d{2}([.,]\d+)?)? \d{2}:\d{2}$/.test(value))
    return undefined;
  return parseDateTime(value);
}

/** An instant the body's validation accepted. */
function validInstant(value: string): Date {
  const date = instant(value);
  if (date === undefined) throw new Error('an instant that was not validated');
  return date;
}

/** DRF DateTimeField's message, with the date form this field accepts too. */
export const INSTANT_FORMAT =
  'Datetime has wrong format. Use one of these formats instead: YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].';

function InstantField(description: string): PropertyDecorator {
  return field(
    'bulkInstant',
    { required: false, description },
    { type: String, format: 'date-time' },
    (value) => (instant(value) ? null : INSTANT_FORMAT),
  );
}

export interface BulkRevokeInput {
  filters: FilterParams;
  /** The filters as given (snake_case body members), for the audit event. */
  predicate: Record<string, unknown>;
  dryRun: boolean;
  includeAccessTokens: boolean;
}

/**
 * The body checked (unknown members, types, then the non-empty predicate) and mapped onto FilterParams, the list's
 * predicate type, so GrantStore.where() applies exactly what the list applies.
 */
export async function parseBulkRevokeBody(kind: GrantKind, body: unknown): Promise<BulkRevokeInput> {
  const isRefresh = kind.table === 'oauth2_refresh_tokens';
  const type = isRefresh ? RefreshTokenBulkRevokeRequest : GrantBulkRevokeRequest;
  const errors: ValidationErrorBody = {};
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const known = new Set<string>([
      ...BULK_FILTER_KEYS,
      'dry_run',
      ...(isRefresh ? ['include_access_tokens'] : []),
    ]);
    for (const key of Object.keys(body)) {
      if (known.has(key)) continue;
      errors[key] = [
        key === 'revoked'
          ? REVOKED_NOT_A_FILTER
          : key === 'include_access_tokens'
            ? INCLUDE_ACCESS_TOKENS_ONLY
            : unknownField(kind),
      ];
    }
  }
  let dto: RefreshTokenBulkRevokeRequest;
  try {
    dto = await validateBody<RefreshTokenBulkRevokeRequest>(type, body);
  } catch (error) {
    // Shape errors (malformed JSON, not an object) stand alone; field errors join the unknown members'.
    if (!(error instanceof ValidationApiError) || 'non_field_errors' in error.errors) throw error;
    throw new ValidationApiError({ ...error.errors, ...errors });
  }
  if (Object.keys(errors).length > 0) throw new ValidationApiError(errors);

  const predicate: Record<string, unknown> = {};
  for (const key of BULK_FILTER_KEYS) if (dto[key] !== undefined) predicate[key] = dto[key];
  if (Object.keys(predicate).length === 0) {
    throw new ValidationApiError({ non_field_errors: [EMPTY_PREDICATE] });
  }

  const filters: FilterParams = { user: undefined, provider: undefined, invalid: [] };
  for (const key of ['user', 'provider'] as const) {
    const id = dto[key];
    if (id === undefined) continue;
    // As the list: an integer that cannot be a pk is an invalid choice (checkFilters answers the others).
    if (id < 1 || id > MAX_INT4) filters.invalid.push(key);
    else filters[key] = id;
  }
  if (dto.is_expired !== undefined) filters.isExpired = dto.is_expired;
  if (dto.expires__lt !== undefined) filters.expiresLt = validInstant(dto.expires__lt);
  if (dto.expires__gte !== undefined) filters.expiresGte = validInstant(dto.expires__gte);
  if (dto.created__lt !== undefined) filters.createdLt = validInstant(dto.created__lt);
  if (dto.created__gte !== undefined) filters.createdGte = validInstant(dto.created__gte);
  if (dto.valid_at !== undefined) filters.validAt = validInstant(dto.valid_at);
  if (dto.scope !== undefined) {
    const terms = scopeTerms(dto.scope);
    if (typeof terms !== 'string') {
      filters.scope = terms;
      predicate.scope = terms;
    }
  }
  if (dto.application !== undefined) filters.application = dto.application;
  if (dto.client_id !== undefined) filters.clientId = dto.client_id;
  if (dto.username !== undefined) filters.username = dto.username;
  return {
    filters,
    predicate,
    dryRun: dto.dry_run ?? false,
    includeAccessTokens: isRefresh && (dto.include_access_tokens ?? false),
  };
}

/* Response components (OpenAPI). */

export class BulkRevokeCascade {
  @ApiProperty({ example: 'authentik_providers_oauth2.accesstoken' }) model!: string;
  @ApiProperty({ type: 'integer', description: 'Access tokens revoked (or, in a dry run, that would be).' })
  count!: number;
  @ApiProperty({ type: 'integer', isArray: true, description: 'Their first (lowest) pks, at most 100.' })
  first_ids!: number[];
  @ApiProperty({ description: 'Whether only the caller’s own access tokens count (see own_only below).' })
  own_only!: boolean;
}

export class GrantBulkRevokeResult {
  @ApiProperty({ description: 'Whether this was a dry run (nothing written).' }) dry_run!: boolean;
  @ApiProperty({ example: 'authentik_providers_oauth2.refreshtoken' }) model!: string;
  @ApiProperty({
    type: 'integer',
    description:
      'Grants this request revoked; in a dry run, the grants not yet revoked that match now (exact). Grants ' +
      'another request revoked first are not counted, so concurrent overlapping requests add up to the rows revoked.',
  })
  count!: number;
  @ApiProperty({
    type: 'integer',
    isArray: true,
    description: 'The first (lowest) pks of those grants, ascending, at most 100.',
  })
  first_ids!: number[];
  @ApiProperty({
    description:
      'Whether the caller lacks the view or the delete permission of this type, so only their own grants count.',
  })
  own_only!: boolean;
  @ApiPropertyOptional({
    type: BulkRevokeCascade,
    description:
      'refresh_tokens with include_access_tokens only: the access tokens of the same authorizations.',
  })
  access_tokens?: BulkRevokeCascade;
}
