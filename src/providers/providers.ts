import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { generateClientId, generateSecret, sha256 } from '../common/crypto/secrets';
import { findGroup, InputError } from '../identity/accounts';
import type { Sealer } from '../keys/sealing';
import type { SigningAlgorithm, SigningKeyEntity } from '../keys/signing-key.entity';
import { generateSigningKeyPair, providerKeyName, storeSigningKey } from '../keys/signing-keys';
import { ApplicationEntity } from './application.entity';
import { ApplicationGroupEntity } from './application-group.entity';
import {
  type ClientType,
  type ConsentMode,
  type IssuerMode,
  OAuth2ProviderEntity,
  type RedirectUri,
  type SubMode,
} from './oauth2-provider.entity';
import { compilePattern } from '../oauth2/issuance/core/redirect-uris';
import { parseTimedelta } from './timedelta';

export interface CreateProviderInput {
  name: string;
  clientType?: ClientType;
  /** Absolute http(s) URLs, matched strictly, for the authorization redirect. */
  redirectUris?: string[];
  accessCodeValidity?: string;
  accessTokenValidity?: string;
  refreshTokenValidity?: string;
  subMode?: SubMode;
  issuerMode?: IssuerMode;
  includeClaimsInIdToken?: boolean;
  /** Fixed credentials, for reproducible data (the seed); random when absent. */
  clientId?: string;
  clientSecret?: string;
  authorizationFlow?: string;
  invalidationFlow?: string;
  /** The application this provider serves as a backchannel provider. */
  backchannelApplicationId?: string | null;
  /** The provider's signing key pair; default RS256, as authentik's default certificate is RSA. */
  signingAlgorithm?: SigningAlgorithm;
  /** When the authorize endpoint asks for consent; default 'expiring', as authentik's explicit-consent flow. */
  consentMode?: ConsentMode;
  /** How long an 'expiring' consent lasts; default weeks=4. */
  consentExpireIn?: string;
  /** Authorization redirect URIs matched as regular expressions (a full match, as authentik's re.fullmatch). */
  redirectUriPatterns?: string[];
  /** Where end-session may send the browser afterwards (authentik's logout-type redirect URIs), matched strictly. */
  postLogoutRedirectUris?: string[];
  /** Refresh tokens rotate when they expire sooner than this; default seconds=0 (always rotate). */
  refreshTokenThreshold?: string;
}

/** A redirect URI pattern, compiled as the authorize endpoint will (refusing backtracking shapes). */
export function validateRedirectUriPattern(pattern: string): RedirectUri {
  if (pattern === '' || compilePattern(pattern) === null) {
    throw new InputError(
      `redirect URI pattern "${pattern}" is not a regular expression Grantry runs (invalid, longer than 1024 ` +
        `characters, or a shape that backtracks catastrophically such as (a+)+)`,
    );
  }
  return { matching_mode: 'regex', url: pattern, redirect_uri_type: 'authorization' };
}

export interface CreatedProvider {
  provider: OAuth2ProviderEntity;
  /** The only time the secret exists outside the caller's hands (it is stored hashed); null for public clients. */
  clientSecret: string | null;
  /** The provider's signing key pair (public parts only). */
  signingKey: SigningKeyEntity;
}

export function validateRedirectUri(value: string): RedirectUri {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InputError(`redirect URI "${value}" is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(`redirect URI "${value}" must use http or https`);
  }
  // RFC 6749 §3.1.2: the redirection endpoint URI MUST NOT include a fragment component.
  if (value.includes('#')) throw new InputError(`redirect URI "${value}" must not have a fragment`);
  return { matching_mode: 'strict', url: value, redirect_uri_type: 'authorization' };
}

/**
 * Creates a provider together with its signing key pair (sealed with SECRET_KEY through `sealer`), in one
 * transaction: Grantry never signs HS256 with the client secret, so a provider without a key could issue nothing.
 */
export async function createProvider(
  manager: EntityManager,
  input: CreateProviderInput,
  sealer: Sealer,
): Promise<CreatedProvider> {
  const name = input.name.trim();
  if (name === '') throw new InputError('provider name must not be empty');
  const clientType = input.clientType ?? 'confidential';
  const redirectUris = [
    ...(input.redirectUris ?? []).map(validateRedirectUri),
    ...(input.redirectUriPatterns ?? []).map(validateRedirectUriPattern),
    ...(input.postLogoutRedirectUris ?? []).map((uri): RedirectUri => ({
      ...validateRedirectUri(uri),
      redirect_uri_type: 'logout',
    })),
  ];
  const refreshTokenThreshold = input.refreshTokenThreshold ?? 'seconds=0';
  parseTimedelta(refreshTokenThreshold, 'refresh token threshold');
  const validities = {
    accessCodeValidity: input.accessCodeValidity ?? 'minutes=1',
    accessTokenValidity: input.accessTokenValidity ?? 'hours=1',
    refreshTokenValidity: input.refreshTokenValidity ?? 'days=30',
  };
  parseTimedelta(validities.accessCodeValidity, 'access code validity');
  parseTimedelta(validities.accessTokenValidity, 'access token validity');
  parseTimedelta(validities.refreshTokenValidity, 'refresh token validity');
  const consentExpireIn = input.consentExpireIn ?? 'weeks=4';
  parseTimedelta(consentExpireIn, 'consent expiry');
  if (await manager.existsBy(OAuth2ProviderEntity, { name })) {
    throw new InputError(`a provider named "${name}" already exists`);
  }
  const clientId = input.clientId ?? generateClientId();
  if (await manager.existsBy(OAuth2ProviderEntity, { clientId })) {
    throw new InputError(`a provider with client id "${clientId}" already exists`);
  }
  const clientSecret = clientType === 'confidential' ? (input.clientSecret ?? generateSecret()) : null;
  // Generated before the transaction: an RSA key takes tens to hundreds of milliseconds of CPU.
  const pair = await generateSigningKeyPair(input.signingAlgorithm ?? 'RS256');
  const { provider, signingKey } = await manager.transaction(async (tx) => {
    const key = await storeSigningKey(tx, sealer, providerKeyName(name), pair);
    const saved = await tx.save(
      tx.create(OAuth2ProviderEntity, {
        name,
        clientType,
        clientId,
        clientSecretHash: clientSecret === null ? null : sha256(clientSecret),
        redirectUris,
        ...validities,
        refreshTokenThreshold,
        subMode: input.subMode ?? 'hashed_user_id',
        issuerMode: input.issuerMode ?? 'per_provider',
        includeClaimsInIdToken: input.includeClaimsInIdToken ?? true,
        // authentik requires both flows; Grantry runs no flows, so any stable id stands in for them.
        authorizationFlow: input.authorizationFlow ?? randomUUID(),
        invalidationFlow: input.invalidationFlow ?? randomUUID(),
        backchannelApplicationId: input.backchannelApplicationId ?? null,
        signingKey: key.kpUuid,
        consentMode: input.consentMode ?? 'expiring',
        consentExpireIn,
      }),
    );
    return { provider: saved, signingKey: key };
  });
  return { provider, clientSecret, signingKey };
}

/** What an application slug may be (authentik's SlugField), at most 50 characters. */
export const APPLICATION_SLUG = /^[-a-zA-Z0-9_]{1,50}$/;
const SLUG = /^[-a-zA-Z0-9_]+$/;

export interface CreatedApplication extends ApplicationEntity {
  /** The names of the groups bound to it, in the order given, each once. */
  groups: string[];
}

/**
 * Creates an application, bound to `groups` (names) when given: then only their members, and members of groups below
 * them, may authorize with it. Call it inside a transaction when binding groups, so an error writes nothing.
 */
/** Slugs that would collide with the shared OAuth2 endpoints under /application/o/ (authentik reserves the same). */
export const RESERVED_SLUGS: ReadonlySet<string> = new Set([
  'authorize',
  'token',
  'device',
  'userinfo',
  'introspect',
  'revoke',
]);

/**
 * The checks `createApplication` makes, with the CLI's messages: the CLI runs them before dispatching the management
 * API's create command (which makes the same checks with authentik's messages), so its errors keep their wording.
 */
export async function checkNewApplication(
  manager: EntityManager,
  input: { slug: string; name: string; providerId?: number | null },
): Promise<void> {
  if (!SLUG.test(input.slug)) {
    throw new InputError(`slug "${input.slug}" may only contain letters, digits, "-" and "_"`);
  }
  if (input.slug.length > 50) throw new InputError('slug must be at most 50 characters long');
  if (RESERVED_SLUGS.has(input.slug)) {
    throw new InputError(
      `slug "${input.slug}" is reserved: /application/o/${input.slug}/ is an OAuth2 endpoint`,
    );
  }
  if (input.name.trim() === '') throw new InputError('application name must not be empty');
  if (await manager.existsBy(ApplicationEntity, { slug: input.slug })) {
    throw new InputError(`an application with slug "${input.slug}" already exists`);
  }
  const providerId = input.providerId ?? null;
  if (providerId !== null) {
    if (!(await manager.existsBy(OAuth2ProviderEntity, { id: providerId }))) {
      throw new InputError(`no provider with id ${providerId}`);
    }
    const holder = await manager.findOneBy(ApplicationEntity, { providerId });
    if (holder) {
      throw new InputError(`provider ${providerId} is already used by application "${holder.slug}"`);
    }
  }
}

export async function createApplication(
  manager: EntityManager,
  input: { slug: string; name: string; providerId?: number | null; groups?: readonly string[]; id?: string },
): Promise<CreatedApplication> {
  await checkNewApplication(manager, input);
  const name = input.name.trim();
  const providerId = input.providerId ?? null;
  // Every name is resolved before anything is written: an unknown one is an error naming it.
  const groups = [];
  for (const groupName of new Set(input.groups ?? [])) groups.push(await findGroup(manager, groupName));
  const application = await manager.save(
    manager.create(ApplicationEntity, {
      // Only the seed gives an id (derived from its K); everything else lets the database draw one.
      ...(input.id === undefined ? {} : { id: input.id }),
      slug: input.slug,
      name,
      providerId,
    }),
  );
  if (groups.length > 0) {
    await manager.insert(
      ApplicationGroupEntity,
      groups.map((group) => ({ applicationId: application.id, groupId: group.id })),
    );
  }
  return Object.assign(application, { groups: groups.map((group) => group.name) });
}
