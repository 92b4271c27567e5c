import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { SigningKeyEntity } from '../keys/signing-key.entity';
import type { ApplicationEntity } from './application.entity';

export const CLIENT_TYPES = ['confidential', 'public'] as const;
export type ClientType = (typeof CLIENT_TYPES)[number];
export const LOGOUT_METHODS = ['backchannel', 'frontchannel'] as const;
export type LogoutMethod = (typeof LOGOUT_METHODS)[number];
export const SUB_MODES = [
  'hashed_user_id',
  'user_id',
  'user_uuid',
  'user_username',
  'user_email',
  'user_upn',
] as const;
export type SubMode = (typeof SUB_MODES)[number];
export const ISSUER_MODES = ['global', 'per_provider'] as const;
export type IssuerMode = (typeof ISSUER_MODES)[number];
/**
 * When the authorize endpoint asks for consent (authentik's ConsentStage modes, plus 'implicit' for a flow without
 * that stage): never, once per `consent_expire_in`, once for good, or every time.
 */
export const CONSENT_MODES = ['implicit', 'expiring', 'permanent', 'always'] as const;
export type ConsentMode = (typeof CONSENT_MODES)[number];
export const GRANT_TYPES = [
  'authorization_code',
  'implicit',
  'hybrid',
  'refresh_token',
  'client_credentials',
  'password',
  'urn:ietf:params:oauth:grant-type:device_code',
] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export interface RedirectUri {
  matching_mode: 'strict' | 'regex';
  url: string;
  redirect_uri_type: 'authorization' | 'logout';
}

/**
 * authentik's OAuth2Provider. The client secret is stored only as its SHA-256: Grantry only ever needs to recognise
 * it, and never returns it (authentik returns it in every token listing).
 */
@Entity({ name: 'oauth2_providers' })
@Check('oauth2_providers_client_type_check', `"client_type" IN ('confidential', 'public')`)
@Check('oauth2_providers_logout_method_check', `"logout_method" IN ('backchannel', 'frontchannel')`)
@Check(
  'oauth2_providers_sub_mode_check',
  `"sub_mode" IN ('hashed_user_id', 'user_id', 'user_uuid', 'user_username', 'user_email', 'user_upn')`,
)
@Check('oauth2_providers_issuer_mode_check', `"issuer_mode" IN ('global', 'per_provider')`)
@Check(
  'oauth2_providers_consent_mode_check',
  `"consent_mode" IN ('implicit', 'expiring', 'permanent', 'always')`,
)
export class OAuth2ProviderEntity {
  @PrimaryGeneratedColumn({ type: 'integer', primaryKeyConstraintName: 'oauth2_providers_pkey' })
  id!: number;

  @Index('oauth2_providers_name_key', { unique: true })
  @Column({ type: 'text' })
  name!: string;

  @Column({ name: 'authentication_flow', type: 'uuid', nullable: true })
  authenticationFlow!: string | null;

  @Column({ name: 'authorization_flow', type: 'uuid', nullable: true })
  authorizationFlow!: string | null;

  @Column({ name: 'invalidation_flow', type: 'uuid', nullable: true })
  invalidationFlow!: string | null;

  @Column({ name: 'property_mappings', type: 'uuid', array: true, default: () => `'{}'` })
  propertyMappings!: string[];

  @Column({ name: 'client_type', type: 'varchar', length: 16, default: 'confidential' })
  clientType!: ClientType;

  @Index('oauth2_providers_client_id_key', { unique: true })
  @Column({ name: 'client_id', type: 'varchar', length: 255 })
  clientId!: string;

  /** SHA-256 of the client secret; null for public clients created without one. */
  @Column({ name: 'client_secret_hash', type: 'bytea', nullable: true })
  clientSecretHash!: Buffer | null;

  @Column({ name: 'access_code_validity', type: 'text', default: 'minutes=1' })
  accessCodeValidity!: string;

  @Column({ name: 'access_token_validity', type: 'text', default: 'hours=1' })
  accessTokenValidity!: string;

  @Column({ name: 'refresh_token_validity', type: 'text', default: 'days=30' })
  refreshTokenValidity!: string;

  @Column({ name: 'refresh_token_threshold', type: 'text', default: 'seconds=0' })
  refreshTokenThreshold!: string;

  @Column({ name: 'include_claims_in_id_token', type: 'boolean', default: true })
  includeClaimsInIdToken!: boolean;

  /** The key pair that signs this provider's tokens (created with the provider; see src/keys). */
  @Column({ name: 'signing_key', type: 'uuid', nullable: true })
  signingKey!: string | null;

  @ManyToOne('SigningKeyEntity', { onDelete: 'SET NULL', nullable: true })
  @JoinColumn({ name: 'signing_key', foreignKeyConstraintName: 'oauth2_providers_signing_key_fkey' })
  signingKeyPair?: SigningKeyEntity | null;

  @Column({ name: 'encryption_key', type: 'uuid', nullable: true })
  encryptionKey!: string | null;

  @Column({ name: 'redirect_uris', type: 'jsonb', default: () => `'[]'` })
  redirectUris!: RedirectUri[];

  @Column({ name: 'logout_uri', type: 'text', default: '' })
  logoutUri!: string;

  @Column({ name: 'logout_method', type: 'varchar', length: 16, default: 'backchannel' })
  logoutMethod!: LogoutMethod;

  @Column({ name: 'sub_mode', type: 'varchar', length: 32, default: 'hashed_user_id' })
  subMode!: SubMode;

  @Column({ name: 'issuer_mode', type: 'varchar', length: 16, default: 'per_provider' })
  issuerMode!: IssuerMode;

  @Column({
    name: 'grant_types',
    type: 'text',
    array: true,
    default: () => `'{authorization_code,refresh_token}'`,
  })
  grantTypes!: GrantType[];

  @Column({ name: 'jwt_federation_sources', type: 'uuid', array: true, default: () => `'{}'` })
  jwtFederationSources!: string[];

  @Column({
    name: 'jwt_federation_providers',
    type: 'integer',
    array: true,
    default: () => `'{}'`,
  })
  jwtFederationProviders!: number[];

  /** The application this provider serves as a backchannel provider, if any. */
  @Index('oauth2_providers_backchannel_application_id_idx')
  @Column({ name: 'backchannel_application_id', type: 'uuid', nullable: true })
  backchannelApplicationId!: string | null;

  @ManyToOne('ApplicationEntity', { onDelete: 'SET NULL', nullable: true })
  @JoinColumn({
    name: 'backchannel_application_id',
    foreignKeyConstraintName: 'oauth2_providers_backchannel_application_id_fkey',
  })
  backchannelApplication?: ApplicationEntity | null;

  /** Consent is a provider setting here, not a flow stage (migration ConsentAndAccess). */
  @Column({ name: 'consent_mode', type: 'varchar', length: 16, default: 'expiring' })
  consentMode!: ConsentMode;

  /** How long an 'expiring' consent lasts, as authentik writes durations (src/providers/timedelta.ts). */
  @Column({ name: 'consent_expire_in', type: 'text', default: 'weeks=4' })
  consentExpireIn!: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created!: Date;
}
