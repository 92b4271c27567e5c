import type { EntityManager } from 'typeorm';
import { generateSecret, sha256 } from '../../common/crypto/secrets';
import { DEFAULT_ACR } from '../../common/serializers/id-token';
import { userUid } from '../../common/serializers/user';
import { InputError } from '../../identity/accounts';
import { InstallEntity } from '../../identity/install.entity';
import { UserEntity } from '../../identity/user.entity';
import { ApplicationEntity } from '../../providers/application.entity';
import { OAuth2ProviderEntity, type SubMode } from '../../providers/oauth2-provider.entity';
import { parseTimedelta } from '../../providers/timedelta';
import { AccessTokenEntity } from '../access-tokens/access-token.entity';
import { AuthorizationCodeEntity } from '../authorization-codes/authorization-code.entity';
import { RefreshTokenEntity } from '../refresh-tokens/refresh-token.entity';

/** The short names the CLI uses; src/oauth2/grants/grant-kind.ts describes the kinds for the API. */
export const GRANT_KIND_NAMES = ['access', 'refresh', 'code'] as const;
export type GrantKindName = (typeof GRANT_KIND_NAMES)[number];

/**
 * Grantry issues no tokens, so it has no public URL of its own to put in `iss`; grants written here (CLI, seed)
 * name authentik's default listen address instead.
 */
export const DEFAULT_ISSUER_ORIGIN = 'http://localhost:9000';

/** The `sub` claim authentik issues for a provider's sub_mode. */
export function subjectFor(
  subMode: SubMode,
  user: Pick<UserEntity, 'id' | 'uuid' | 'username' | 'email' | 'attributes'>,
  installId: string,
): string {
  switch (subMode) {
    case 'hashed_user_id':
      return userUid(user.id, installId);
    case 'user_id':
      return String(user.id);
    case 'user_uuid':
      return user.uuid;
    case 'user_username':
      return user.username;
    case 'user_email':
      return user.email;
    case 'user_upn': {
      const upn = user.attributes.upn;
      return typeof upn === 'string' ? upn : userUid(user.id, installId);
    }
  }
}

/** authentik's issuer: per provider it is the application's URL, globally the instance's. */
export function issuerFor(
  issuerMode: OAuth2ProviderEntity['issuerMode'],
  applicationSlug: string | undefined,
  origin = DEFAULT_ISSUER_ORIGIN,
): string {
  if (issuerMode === 'per_provider' && applicationSlug !== undefined) {
    return `${origin}/application/o/${applicationSlug}/`;
  }
  return `${origin}/`;
}

/** OIDC `at_hash`: base64url of the left half of the access token's SHA-256. */
export function accessTokenHash(value: string): string {
  return sha256(value).subarray(0, 16).toString('base64url');
}

export interface CreateGrantInput {
  kind: GrantKindName;
  userId: number;
  providerId: number;
  /** Space-separated; defaults to "openid". */
  scope?: string;
  /** Undefined: now + the provider's validity for this kind. Null: never expires. */
  expires?: Date | null;
  revoked?: boolean;
  nonce?: string | null;
  sessionId?: string | null;
  authTime?: Date;
  /** A fixed value, for reproducible data; random when absent. */
  value?: string;
}

export interface IssuedGrant {
  kind: GrantKindName;
  grant: AccessTokenEntity | RefreshTokenEntity | AuthorizationCodeEntity;
  user: UserEntity;
  provider: OAuth2ProviderEntity;
  /** The only time the token or code exists outside the caller's hands: it is stored as a hash. */
  value: string;
}

const VALIDITY: Record<GrantKindName, (p: OAuth2ProviderEntity) => [string, string]> = {
  access: (p) => [p.accessTokenValidity, 'access_token_validity'],
  refresh: (p) => [p.refreshTokenValidity, 'refresh_token_validity'],
  code: (p) => [p.accessCodeValidity, 'access_code_validity'],
};

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** RFC 6749 §3.3: scope tokens are printable ASCII without space, `"` or `\`; stored space-separated and unique. */
export function normalizeScope(scope: string): string {
  const tokens = scope.split(/\s+/).filter((token) => token !== '');
  const bad = tokens.find((token) => !SCOPE_TOKEN.test(token));
  if (bad !== undefined) throw new InputError(`scope "${bad}" contains characters a scope cannot have`);
  return [...new Set(tokens)].join(' ');
}

/** The ID token claims authentik keeps with a token: registered claims, plus profile/email claims by scope. */
export function idTokenClaims(input: {
  provider: OAuth2ProviderEntity;
  applicationSlug: string | undefined;
  user: UserEntity;
  installId: string;
  scope: string;
  issuedAt: Date;
  expires: Date;
  authTime: Date;
  nonce: string | null;
  sessionId: string | null;
  accessToken?: string;
}): Record<string, unknown> {
  const seconds = (date: Date): number => Math.floor(date.getTime() / 1000);
  const { provider, user } = input;
  const claims: Record<string, unknown> = {
    iss: issuerFor(provider.issuerMode, input.applicationSlug),
    sub: subjectFor(provider.subMode, user, input.installId),
    aud: provider.clientId,
    exp: seconds(input.expires),
    iat: seconds(input.issuedAt),
    auth_time: seconds(input.authTime),
    acr: DEFAULT_ACR,
    amr: ['pwd'],
  };
  if (input.nonce !== null) claims.nonce = input.nonce;
  if (input.sessionId !== null) claims.sid = input.sessionId;
  if (input.accessToken !== undefined) claims.at_hash = accessTokenHash(input.accessToken);
  if (provider.includeClaimsInIdToken) {
    const scopes = new Set(input.scope.split(' '));
    if (scopes.has('email')) {
      claims.email = user.email;
      claims.email_verified = true;
    }
    if (scopes.has('profile')) {
      claims.name = user.name;
      claims.given_name = user.name;
      claims.preferred_username = user.username;
      claims.nickname = user.username;
    }
  }
  return claims;
}

async function installId(manager: EntityManager): Promise<string> {
  const install = await manager.findOneBy(InstallEntity, { id: 1 });
  if (!install) throw new Error('the install row is missing: the database was not migrated');
  return install.installId;
}

/** Writes one access token, refresh token or authorization code; only the hash of its value is stored. */
export async function createGrant(manager: EntityManager, input: CreateGrantInput): Promise<IssuedGrant> {
  const user = await manager.findOneBy(UserEntity, { id: input.userId });
  if (!user) throw new InputError(`no user with id ${input.userId}`);
  const provider = await manager.findOneBy(OAuth2ProviderEntity, { id: input.providerId });
  if (!provider) throw new InputError(`no provider with id ${input.providerId}`);
  const scope = normalizeScope(input.scope ?? 'openid');
  const value = input.value ?? generateSecret();
  const now = new Date();
  const [validity, label] = VALIDITY[input.kind](provider);
  const lifetimeMs = parseTimedelta(validity, `the provider's ${label}`);
  const expires = input.expires === undefined ? new Date(now.getTime() + lifetimeMs) : input.expires;
  const common = {
    providerId: provider.id,
    userId: user.id,
    scope,
    expires,
    expiring: expires !== null,
    revoked: input.revoked ?? false,
    // Created revoked (the CLI's --revoked): revoked as it was issued.
    revokedAt: input.revoked ? now : null,
    authTime: input.authTime ?? now,
    sessionId: input.sessionId ?? null,
    created: now,
  };
  let grant: AccessTokenEntity | RefreshTokenEntity | AuthorizationCodeEntity;
  if (input.kind === 'code') {
    grant = await manager.save(
      manager.create(AuthorizationCodeEntity, {
        ...common,
        codeHash: sha256(value),
        nonce: input.nonce ?? null,
      }),
    );
  } else {
    const application = await manager.findOneBy(ApplicationEntity, { providerId: provider.id });
    const idToken = idTokenClaims({
      provider,
      applicationSlug: application?.slug,
      user,
      installId: await installId(manager),
      scope,
      issuedAt: now,
      // A non-expiring grant still carries an ID token that expired like any other.
      expires: expires ?? new Date(now.getTime() + parseTimedelta(provider.accessTokenValidity)),
      authTime: common.authTime,
      nonce: input.nonce ?? null,
      sessionId: common.sessionId,
      accessToken: input.kind === 'access' ? value : undefined,
    });
    const row = { ...common, tokenHash: sha256(value), idToken };
    grant =
      input.kind === 'access'
        ? await manager.save(manager.create(AccessTokenEntity, row))
        : await manager.save(manager.create(RefreshTokenEntity, row));
  }
  return { kind: input.kind, grant, user, provider, value };
}
