import { randomUUID } from 'node:crypto';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource, type EntityManager } from 'typeorm';
import { type Caller, callerCan } from '../../common/auth/caller';
import { generateClientId, sha256 } from '../../common/crypto/secrets';
import { deletedCounts, modelRef, recordEvent } from '../../events/record-event';
import { Sealer } from '../../keys/sealing';
import type { SigningAlgorithm, SigningKeyEntity } from '../../keys/signing-key.entity';
import { generateSigningKeyPair, providerKeyName, storeSigningKey } from '../../keys/signing-keys';
import { generateId } from '../../oauth2/issuance/core/token-issuer';
import { ApplicationEntity } from '../../providers/application.entity';
import {
  type ClientType,
  type ConsentMode,
  type IssuerMode,
  type LogoutMethod,
  OAuth2ProviderEntity,
  type SubMode,
} from '../../providers/oauth2-provider.entity';
import { UserConsentEntity } from '../../providers/user-consent.entity';
import { fieldError, isUniqueViolation, noMatch, permissionDenied } from '../common/errors';
import { validateBody } from '../common/validate-body';
import { OAuth2ProviderRequest, PatchedOAuth2ProviderRequest } from './provider.dto';
import {
  CLIENT_ID_TAKEN,
  checkProviderInput,
  PROVIDER_APP,
  PROVIDER_MODEL,
  PROVIDER_NAME_TAKEN,
  type ProviderBody,
  providerBody,
  type ProviderInput,
} from './provider-store';

export const PROVIDER_PERMISSION = {
  view: 'authentik_providers_oauth2.view_oauth2provider',
  add: 'authentik_providers_oauth2.add_oauth2provider',
  change: 'authentik_providers_oauth2.change_oauth2provider',
  delete: 'authentik_providers_oauth2.delete_oauth2provider',
} as const;

/** authentik's generated client secrets: 128 characters of [A-Za-z0-9]. */
export function generateClientSecret(): string {
  return generateId(128);
}

export interface ProviderWriteResult {
  /** The API's response body (the clear secret in it only when this write set one). */
  body: ProviderBody;
  provider: OAuth2ProviderEntity;
  /** The secret this write set, or null. */
  clientSecret: string | null;
  /** The key pair made for the provider, when this write made one. */
  signingKey: SigningKeyEntity | null;
}

/** Options the CLI has and the API does not. */
export interface ProviderCreateOptions {
  /** The algorithm of the key pair made for the provider (default RS256, as authentik's default certificate). */
  signingAlgorithm?: SigningAlgorithm;
}

export class CreateProviderCommand extends Command<ProviderWriteResult> {
  constructor(
    readonly caller: Caller,
    readonly input: ProviderInput,
    readonly options: ProviderCreateOptions = {},
  ) {
    super();
  }
}

export class UpdateProviderCommand extends Command<ProviderWriteResult> {
  constructor(
    readonly caller: Caller,
    readonly id: number,
    readonly input: ProviderInput,
    /** PATCH: absent required fields are fine. */
    readonly partial: boolean,
  ) {
    super();
  }
}

export class DeleteProviderCommand extends Command<void> {
  constructor(
    readonly caller: Caller,
    readonly id: number,
  ) {
    super();
  }
}

/** Replaces a provider's client secret with a new generated one (the CLI's `provider rotate-secret`). */
export class RotateProviderSecretCommand extends Command<ProviderWriteResult> {
  constructor(
    readonly caller: Caller,
    readonly id: number,
  ) {
    super();
  }
}

/** DRF trims CharFields. */
function trimmed(input: ProviderInput): ProviderInput {
  const out: ProviderInput = { ...input };
  for (const key of [
    'name',
    'client_id',
    'client_secret',
    'access_code_validity',
    'access_token_validity',
    'refresh_token_validity',
    'refresh_token_threshold',
    'logout_uri',
    'consent_expire_in',
  ] as const) {
    const value = out[key];
    if (typeof value === 'string') out[key] = value.trim();
  }
  return out;
}

/** The entity fields an input sets (absent fields untouched, as DRF's ModelSerializer.update). */
function entityFields(input: ProviderInput): Partial<OAuth2ProviderEntity> {
  const fields: Partial<OAuth2ProviderEntity> = {};
  if (input.name !== undefined) fields.name = input.name;
  if (input.authentication_flow !== undefined) fields.authenticationFlow = input.authentication_flow;
  if (input.authorization_flow !== undefined) fields.authorizationFlow = input.authorization_flow;
  if (input.invalidation_flow !== undefined) fields.invalidationFlow = input.invalidation_flow;
  if (input.client_type !== undefined) fields.clientType = input.client_type as ClientType;
  if (input.client_id !== undefined) fields.clientId = input.client_id;
  if (input.access_code_validity !== undefined) fields.accessCodeValidity = input.access_code_validity;
  if (input.access_token_validity !== undefined) fields.accessTokenValidity = input.access_token_validity;
  if (input.refresh_token_validity !== undefined) fields.refreshTokenValidity = input.refresh_token_validity;
  if (input.refresh_token_threshold !== undefined)
    fields.refreshTokenThreshold = input.refresh_token_threshold;
  if (input.include_claims_in_id_token !== undefined) {
    fields.includeClaimsInIdToken = input.include_claims_in_id_token;
  }
  if (typeof input.signing_key === 'string') fields.signingKey = input.signing_key.toLowerCase();
  if (input.logout_uri !== undefined) fields.logoutUri = input.logout_uri;
  if (input.logout_method !== undefined) fields.logoutMethod = input.logout_method as LogoutMethod;
  if (input.sub_mode !== undefined) fields.subMode = input.sub_mode as SubMode;
  if (input.issuer_mode !== undefined) fields.issuerMode = input.issuer_mode as IssuerMode;
  if (input.consent_mode !== undefined) fields.consentMode = input.consent_mode as ConsentMode;
  if (input.consent_expire_in !== undefined) fields.consentExpireIn = input.consent_expire_in;
  return fields;
}

/** A unique violation of a racing writer answers what the existence check would have. */
function raceError(error: unknown): unknown {
  if (isUniqueViolation(error, 'oauth2_providers_name_key')) return fieldError('name', PROVIDER_NAME_TAKEN);
  if (isUniqueViolation(error, 'oauth2_providers_client_id_key'))
    return fieldError('client_id', CLIENT_ID_TAKEN);
  return error;
}

function providerRef(provider: OAuth2ProviderEntity) {
  return modelRef(PROVIDER_APP, PROVIDER_MODEL, provider.id, provider.name);
}

@CommandHandler(CreateProviderCommand)
export class CreateProviderHandler implements ICommandHandler<CreateProviderCommand> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sealer: Sealer,
  ) {}

  async execute(command: CreateProviderCommand): Promise<ProviderWriteResult> {
    if (!callerCan(command.caller, PROVIDER_PERMISSION.add)) throw permissionDenied();
    const input = trimmed(await validateBody(OAuth2ProviderRequest, command.input));
    // Generated outside the transaction: an RSA key takes tens to hundreds of milliseconds of CPU.
    const pair =
      typeof input.signing_key === 'string'
        ? null
        : await generateSigningKeyPair(command.options.signingAlgorithm ?? 'RS256');
    try {
      return await this.dataSource.transaction(async (manager) => {
        const uris = (await checkProviderInput(manager, input, null)) ?? [];
        const clientType = (input.client_type ?? 'confidential') as ClientType;
        // Blank means "make one", as an absent secret: a confidential client without a secret could not sign in.
        const given =
          input.client_secret !== undefined && input.client_secret !== '' ? input.client_secret : null;
        const clientSecret = given ?? (clientType === 'confidential' ? generateClientSecret() : null);
        const name = input.name ?? '';
        const signingKey =
          pair === null ? null : await storeSigningKey(manager, this.sealer, providerKeyName(name), pair);
        const provider = await manager.save(
          manager.create(OAuth2ProviderEntity, {
            ...entityFields(input),
            clientType,
            clientId: input.client_id ?? generateClientId(),
            clientSecretHash: clientSecret === null ? null : sha256(clientSecret),
            redirectUris: uris,
            authorizationFlow: input.authorization_flow ?? randomUUID(),
            invalidationFlow: input.invalidation_flow ?? randomUUID(),
            ...(signingKey === null ? {} : { signingKey: signingKey.kpUuid }),
          }),
        );
        await recordEvent(manager, command.caller, {
          action: 'model_created',
          model: providerRef(provider),
          objectProviderId: provider.id,
        });
        return {
          body: await providerBody(manager, provider.id, clientSecret),
          provider,
          clientSecret,
          signingKey,
        };
      });
    } catch (error) {
      throw raceError(error);
    }
  }
}

async function lockProvider(manager: EntityManager, id: number): Promise<OAuth2ProviderEntity> {
  const provider = await manager.findOne(OAuth2ProviderEntity, {
    where: { id },
    lock: { mode: 'pessimistic_write' },
  });
  if (!provider) throw noMatch('OAuth2Provider');
  return provider;
}

@CommandHandler(UpdateProviderCommand)
export class UpdateProviderHandler implements ICommandHandler<UpdateProviderCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute(command: UpdateProviderCommand): Promise<ProviderWriteResult> {
    if (!callerCan(command.caller, PROVIDER_PERMISSION.change)) throw permissionDenied();
    const input = trimmed(
      await validateBody(
        command.partial ? PatchedOAuth2ProviderRequest : OAuth2ProviderRequest,
        command.input,
      ),
    );
    try {
      return await this.dataSource.transaction(async (manager) => {
        const provider = await lockProvider(manager, command.id);
        const uris = await checkProviderInput(manager, input, provider.id);
        const fields = entityFields(input);
        if (uris !== undefined) fields.redirectUris = uris;
        // A blank or absent secret keeps the current one: reads return "" (Grantry keeps a hash), and clients PUT
        // back what they read. A confidential client left without a secret gets a new one.
        let clientSecret: string | null = null;
        if (input.client_secret !== undefined && input.client_secret !== '')
          clientSecret = input.client_secret;
        else if (
          (fields.clientType ?? provider.clientType) === 'confidential' &&
          provider.clientSecretHash === null
        ) {
          clientSecret = generateClientSecret();
        }
        if (clientSecret !== null) fields.clientSecretHash = sha256(clientSecret);
        // An empty PATCH still answers (and is recorded) as authentik's save() does.
        if (Object.keys(fields).length > 0)
          await manager.update(OAuth2ProviderEntity, { id: provider.id }, fields);
        const updated = { ...provider, ...fields };
        await recordEvent(manager, command.caller, {
          action: 'model_updated',
          model: providerRef(updated),
          objectProviderId: provider.id,
        });
        return {
          body: await providerBody(manager, provider.id, clientSecret),
          provider: updated,
          clientSecret,
          signingKey: null,
        };
      });
    } catch (error) {
      throw raceError(error);
    }
  }
}

@CommandHandler(RotateProviderSecretCommand)
export class RotateProviderSecretHandler implements ICommandHandler<RotateProviderSecretCommand> {
  constructor(private readonly dataSource: DataSource) {}

  execute(command: RotateProviderSecretCommand): Promise<ProviderWriteResult> {
    if (!callerCan(command.caller, PROVIDER_PERMISSION.change)) throw permissionDenied();
    return this.dataSource.transaction(async (manager) => {
      const provider = await lockProvider(manager, command.id);
      const clientSecret = generateClientSecret();
      await manager.update(
        OAuth2ProviderEntity,
        { id: provider.id },
        { clientSecretHash: sha256(clientSecret) },
      );
      await recordEvent(manager, command.caller, {
        action: 'secret_rotate',
        model: providerRef(provider),
        objectProviderId: provider.id,
      });
      return {
        body: await providerBody(manager, provider.id, clientSecret),
        provider,
        clientSecret,
        signingKey: null,
      };
    });
  }
}

/**
 * Deletes a provider and, through the foreign keys, its access and refresh tokens, authorization codes, code
 * redemptions and device codes; its application survives with provider null (authentik's SET_DEFAULT). The consents
 * users gave that application are deleted too: they were given to this provider's client. The counts go in the
 * event (keys chosen so authentik's secret masking, which hides any key containing "token" or "auth", leaves them).
 */
@CommandHandler(DeleteProviderCommand)
export class DeleteProviderHandler implements ICommandHandler<DeleteProviderCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute(command: DeleteProviderCommand): Promise<void> {
    if (!callerCan(command.caller, PROVIDER_PERMISSION.delete)) throw permissionDenied();
    await this.dataSource.transaction(async (manager) => {
      const provider = await lockProvider(manager, command.id);
      const count = async (table: string): Promise<number> => {
        // A fixed table name from the list below, never input.
        const [row] = await manager.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM ${table} WHERE provider_id = $1`,
          [provider.id],
        );
        return row?.n ?? 0;
      };
      const application = await manager.findOneBy(ApplicationEntity, { providerId: provider.id });
      let consents = 0;
      if (application) {
        consents = (await manager.delete(UserConsentEntity, { applicationId: application.id })).affected ?? 0;
      }
      const deleted = deletedCounts([
        ['authentik_providers_oauth2.accesstoken', await count('oauth2_access_tokens')],
        ['authentik_providers_oauth2.refreshtoken', await count('oauth2_refresh_tokens')],
        ['authentik_providers_oauth2.authorizationcode', await count('oauth2_authorization_codes')],
        ['authentik_providers_oauth2.devicetoken', await count('oauth2_device_tokens')],
        ['authentik_core.userconsent', consents],
      ]);
      await manager.delete(OAuth2ProviderEntity, { id: provider.id });
      await recordEvent(manager, command.caller, {
        action: 'model_deleted',
        model: providerRef(provider),
        context: { deleted },
        objectProviderId: provider.id,
      });
    });
  }
}

export const PROVIDER_COMMAND_HANDLERS = [
  CreateProviderHandler,
  UpdateProviderHandler,
  RotateProviderSecretHandler,
  DeleteProviderHandler,
];
