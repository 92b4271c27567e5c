import type { EntityManager } from 'typeorm';
import { Not } from 'typeorm';
import { ValidationApiError, type ValidationErrorBody } from '../../common/errors/api-error';
import { type ProviderRow, toProviderDto } from '../../common/serializers/provider';
import { MESSAGES, pythonType } from '../../common/validation/fields';
import { SigningKeyEntity } from '../../keys/signing-key.entity';
import { compilePattern, hasForbiddenScheme } from '../../oauth2/issuance/core/redirect-uris';
import { OAuth2ProviderEntity, type RedirectUri } from '../../providers/oauth2-provider.entity';
import { NUL_MESSAGE } from './provider.dto';

/** The provider's model reference in events (authentik's `context.model`). */
export const PROVIDER_APP = 'authentik_providers_oauth2';
export const PROVIDER_MODEL = 'oauth2provider';

export const PROVIDER_NAME_TAKEN = 'provider with this name already exists.';
export const CLIENT_ID_TAKEN = 'OAuth2/OpenID Provider with this Client ID already exists.';

export function invalidPk(value: unknown): string {
  return `Invalid pk "${String(value)}" - object does not exist.`;
}

/** What a management response says of a provider: the inventory's shape plus the secret slot and consent settings. */
export type ProviderBody = Record<string, unknown>;

/**
 * Management responses of providers, by id: the token inventory's stored provider document (one serialization for
 * both APIs, maintained by triggers, migration Documents) plus `client_secret` (the clear secret only when this very
 * request set it, else "": Grantry keeps a hash) and Grantry's consent settings. Read with one statement: the
 * documents table is keyed by provider id, and TypeORM has no entity for it.
 */
export async function providerBodies(
  manager: EntityManager,
  ids: readonly number[],
  secrets: ReadonlyMap<number, string> = new Map(),
): Promise<Map<number, ProviderBody>> {
  if (ids.length === 0) return new Map();
  const rows = await manager.query<{ doc: ProviderRow; consent_mode: string; consent_expire_in: string }[]>(
    `SELECT d.doc, p.consent_mode, p.consent_expire_in
       FROM provider_documents d JOIN oauth2_providers p ON p.id = d.provider_id
      WHERE d.provider_id = ANY($1::int[])`,
    [ids],
  );
  const bodies = new Map<number, ProviderBody>();
  for (const row of rows) {
    const dto = toProviderDto(row.doc);
    const body: ProviderBody = {};
    for (const [key, value] of Object.entries(dto)) {
      body[key] = value;
      // authentik's field order: client_secret right after client_id.
      if (key === 'client_id') body.client_secret = secrets.get(dto.pk) ?? '';
    }
    body.consent_mode = row.consent_mode;
    body.consent_expire_in = row.consent_expire_in;
    bodies.set(dto.pk, body);
  }
  return bodies;
}

export async function providerBody(
  manager: EntityManager,
  id: number,
  secret?: string | null,
): Promise<ProviderBody> {
  const secrets = new Map<number, string>();
  if (secret) secrets.set(id, secret);
  const body = (await providerBodies(manager, [id], secrets)).get(id);
  if (!body) throw new Error(`provider ${id} has no document`);
  return body;
}

const MATCHING_MODES = ['strict', 'regex'];
const REDIRECT_URI_TYPES = ['authorization', 'logout'];

/**
 * `redirect_uris` as authentik's RedirectURISerializer(many=True) checks it: one error dict per item (empty for a
 * valid one), then `validate_redirect_uris` over the whole list. Grantry adds two refusals the authorize endpoint
 * would otherwise apply silently: a regex it will not run (invalid in JavaScript, or a backtracking shape such as
 * `(a+)+`, src/oauth2/issuance/core/redirect-uris.ts) is authentik's "Invalid Regex Pattern", and a javascript:,
 * data: or vbscript: URL is refused.
 */
export function checkRedirectUris(value: unknown[]): { uris: RedirectUri[] } | { error: unknown } {
  const itemErrors: Record<string, string[]>[] = [];
  const uris: RedirectUri[] = [];
  let failed = false;
  for (const item of value) {
    const errors: Record<string, string[]> = {};
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      itemErrors.push({
        non_field_errors: [`Invalid data. Expected a dictionary, but got ${pythonType(item)}.`],
      });
      failed = true;
      continue;
    }
    const entry = item as Record<string, unknown>;
    const mode = entry.matching_mode;
    if (mode === undefined) errors.matching_mode = [MESSAGES.required];
    else if (mode === null) errors.matching_mode = [MESSAGES.null];
    else if (typeof mode !== 'string' || !MATCHING_MODES.includes(mode)) {
      errors.matching_mode = [MESSAGES.choice(mode)];
    }
    const url = entry.url;
    if (url === undefined) errors.url = [MESSAGES.required];
    else if (url === null) errors.url = [MESSAGES.null];
    else if (typeof url !== 'string') errors.url = [MESSAGES.string];
    else if (url.trim() === '') errors.url = [MESSAGES.blank];
    else if (url.includes('\0')) errors.url = [NUL_MESSAGE];
    const type = entry.redirect_uri_type;
    if (type === null) errors.redirect_uri_type = [MESSAGES.null];
    else if (type !== undefined && (typeof type !== 'string' || !REDIRECT_URI_TYPES.includes(type))) {
      errors.redirect_uri_type = [MESSAGES.choice(type)];
    }
    itemErrors.push(errors);
    if (Object.keys(errors).length > 0) {
      failed = true;
      continue;
    }
    uris.push({
      matching_mode: mode as RedirectUri['matching_mode'],
      // DRF's CharField trims surrounding whitespace.
      url: (url as string).trim(),
      redirect_uri_type: (type ?? 'authorization') as RedirectUri['redirect_uri_type'],
    });
  }
  if (failed) return { error: itemErrors };
  for (const uri of uris) {
    if (uri.matching_mode === 'regex' && compilePattern(uri.url) === null) {
      return { error: [`Invalid Regex Pattern: ${uri.url}`] };
    }
    if (hasForbiddenScheme(uri.url)) {
      return { error: [`Redirect URI scheme is not allowed: ${uri.url}`] };
    }
  }
  return { uris };
}

/** The wire fields a create or update may carry, already checked field by field (the DTO). */
export interface ProviderInput {
  name?: string;
  authentication_flow?: string | null;
  authorization_flow?: string;
  invalidation_flow?: string;
  property_mappings?: string[];
  client_type?: string;
  client_id?: string;
  client_secret?: string;
  access_code_validity?: string;
  access_token_validity?: string;
  refresh_token_validity?: string;
  refresh_token_threshold?: string;
  include_claims_in_id_token?: boolean;
  signing_key?: string | null;
  encryption_key?: string | null;
  redirect_uris?: unknown[];
  logout_uri?: string;
  logout_method?: string;
  sub_mode?: string;
  issuer_mode?: string;
  jwt_federation_sources?: string[];
  jwt_federation_providers?: number[];
  consent_mode?: string;
  consent_expire_in?: string;
}

/**
 * The checks that need the database or the whole object, answered together as one DRF 400 (unique name and client
 * id, existing signing key) plus Grantry's refusals for what it cannot honour: property mappings, JWT federation
 * and token encryption do not exist here, so a value for them is refused rather than stored and ignored.
 * Returns the parsed redirect URIs when given.
 */
export async function checkProviderInput(
  manager: EntityManager,
  input: ProviderInput,
  existingId: number | null,
): Promise<RedirectUri[] | undefined> {
  const errors: Record<string, unknown> = {};
  let uris: RedirectUri[] | undefined;
  if (input.redirect_uris !== undefined) {
    const checked = checkRedirectUris(input.redirect_uris);
    if ('error' in checked) errors.redirect_uris = checked.error;
    else uris = checked.uris;
  }
  const first = input.property_mappings?.[0];
  if (first !== undefined) errors.property_mappings = [invalidPk(first)];
  const source = input.jwt_federation_sources?.[0];
  if (source !== undefined) errors.jwt_federation_sources = [invalidPk(source)];
  if (input.jwt_federation_providers !== undefined && input.jwt_federation_providers.length > 0) {
    errors.jwt_federation_providers = ['Grantry does not accept JWTs of other providers (JWT federation).'];
  }
  if (input.encryption_key !== undefined && input.encryption_key !== null) {
    errors.encryption_key = ['Grantry does not encrypt tokens (JWE): encryption_key must be null.'];
  }
  if (input.signing_key === null && existingId !== null) {
    errors.signing_key = ['Grantry signs every token with a key pair: signing_key may not be null.'];
  } else if (typeof input.signing_key === 'string') {
    if (!(await manager.existsBy(SigningKeyEntity, { kpUuid: input.signing_key.toLowerCase() }))) {
      errors.signing_key = [invalidPk(input.signing_key)];
    }
  }
  const others = existingId === null ? {} : { id: Not(existingId) };
  if (
    input.name !== undefined &&
    (await manager.existsBy(OAuth2ProviderEntity, { name: input.name, ...others }))
  ) {
    errors.name = [PROVIDER_NAME_TAKEN];
  }
  if (
    input.client_id !== undefined &&
    (await manager.existsBy(OAuth2ProviderEntity, { clientId: input.client_id, ...others }))
  ) {
    errors.client_id = [CLIENT_ID_TAKEN];
  }
  if (Object.keys(errors).length > 0) throw new ValidationApiError(errors as ValidationErrorBody);
  return uris;
}
