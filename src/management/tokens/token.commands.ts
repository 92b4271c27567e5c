import { randomUUID } from 'node:crypto';
import { HttpStatus } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource, type EntityManager } from 'typeorm';
import { type Caller, callerCan, callerIsSuperuser, callerUserId } from '../../common/auth/caller';
import { sha256 } from '../../common/crypto/secrets';
import { ApiError, ValidationApiError, EmptyBadRequest } from '../../common/errors/api-error';
import type { JsonBody } from '../../common/serializers/json-body';
import { parseDateTime } from '../../common/validation/fields';
import { recordEvent, modelRef } from '../../events/record-event';
import { ApiTokenEntity, type TokenIntent } from '../../identity/api-token.entity';
import { UserEntity } from '../../identity/user.entity';
import { Sealer } from '../../keys/sealing';
import { isUniqueViolation, noMatch, permissionDenied } from '../common/errors';
import { PatchedTokenRequest, TokenRequest } from './token.openapi';
import { validateBody } from '../common/validate-body';
import { type NestingFlags, TokenReader, visibleOwner } from './token-reader';
import {
  DEFAULT_TOKEN_DURATION_MS,
  generateTokenKey,
  KEY_VIEW_WINDOW_MS,
  parseTimedelta,
  pyDatetime,
  tokenName,
} from './token-rules';

const CHANGE_TOKEN = 'authentik_core.change_token';
const DELETE_TOKEN = 'authentik_core.delete_token';
const VIEW_TOKEN_KEY = 'authentik_core.view_token_key';
const SET_TOKEN_KEY = 'authentik_core.set_token_key';
const MAX_LIFETIME_ATTRIBUTE = 'goauthentik.io/user/token-maximum-lifetime';
const EXPIRING_ATTRIBUTE = 'goauthentik.io/user/token-expires';
const IDENTIFIER_TAKEN = 'Token with this identifier already exists.';
const KEY_GONE =
  "This token's key was shown once (view_key/ answers within 10 minutes of the token's creation or of its last " +
  'set_key/, and only once); it can no longer be viewed. Set a new key with set_key/.';

/** The row's identity bound into its sealed key copy: a copy moved to another row does not open. */
function keyCopyAad(id: string): string {
  return `api_tokens:${id}`;
}

function tokenRef(token: { id: string; identifier: string; expiring: boolean; expires: Date | null }) {
  return modelRef('authentik_core', 'token', token.id, tokenName(token));
}

/** What the CLI asks for beyond the API: an operator's token with any intent and expiry, and a generated name. */
export interface OperatorOptions {
  /** The CLI's `token create`: authentik's API rules (intent api/app_password, expiry limits) do not apply. */
  operator?: boolean;
}

export class CreateTokenCommand extends Command<CreatedToken> {
  constructor(
    readonly caller: Caller,
    readonly body: TokenRequest,
    readonly flags: NestingFlags,
    readonly options: OperatorOptions = {},
  ) {
    super();
  }
}

export interface CreatedToken {
  body: JsonBody;
  /** For the CLI only, which prints it once; the API's response never carries it (view_key/ does, once). */
  key: string;
  token: { identifier: string; intent: TokenIntent; expires: Date | null };
}

export class UpdateTokenCommand extends Command<JsonBody> {
  constructor(
    readonly caller: Caller,
    readonly identifier: string,
    /** The raw body: validated after the lookup and the permission check, as DRF does. */
    readonly raw: unknown,
    readonly partial: boolean,
    readonly flags: NestingFlags,
  ) {
    super();
  }
}

export class DeleteTokenCommand extends Command<void> {
  constructor(
    readonly caller: Caller,
    readonly identifier: string,
  ) {
    super();
  }
}

export class ViewTokenKeyCommand extends Command<{ key: string }> {
  constructor(
    readonly caller: Caller,
    readonly identifier: string,
  ) {
    super();
  }
}

export class SetTokenKeyCommand extends Command<void> {
  constructor(
    readonly caller: Caller,
    readonly identifier: string,
    /** The request body's `key` (anything: a missing, blank or non-string key is DRF's empty 400). */
    readonly key: unknown,
  ) {
    super();
  }
}

interface OwnerFacts {
  exists: boolean;
  /** The user's groups' attributes merged (in name order), then the user's own: authentik's group_attributes. */
  mergedAttributes: Record<string, unknown>;
  attributes: Record<string, unknown>;
}

async function ownerFacts(manager: EntityManager, userId: number): Promise<OwnerFacts> {
  // Raw: `user_documents` (the users' stored API documents, kept by the users module) has no entity.
  const [row] = await manager.query<
    { doc: { attributes: Record<string, unknown>; groups: { attributes: Record<string, unknown> }[] } }[]
  >('SELECT doc FROM user_documents WHERE user_id = $1', [userId]);
  if (!row) return { exists: false, mergedAttributes: {}, attributes: {} };
  const merged: Record<string, unknown> = {};
  for (const group of row.doc.groups) Object.assign(merged, group.attributes);
  Object.assign(merged, row.doc.attributes);
  return { exists: true, mergedAttributes: merged, attributes: row.doc.attributes };
}

/** A PrimaryKeyRelatedField value (validated by the DTO) as a user id, or null when it cannot be one. */
function userPk(value: number | string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  const pk = typeof value === 'number' ? value : Number(value.trim());
  return Number.isSafeInteger(pk) && pk >= 1 && pk <= 2 ** 31 - 1 ? pk : null;
}

function invalidPk(value: number | string): string {
  return `Invalid pk "${typeof value === 'string' ? value.trim() : value}" - object does not exist.`;
}

/**
 * authentik's TokenSerializer.validate, steps 2-5, for the intent and expiry a write ends with: only `api` and
 * `app_password`; an app password's expiry at most the owner's `token-maximum-lifetime` (default one day) and, in
 * Grantry, not in the past; an `api` token's expiry set to now + one day whenever it is written.
 */
function validateIntentAndExpiry(
  intent: string,
  expires: Date | null | undefined,
  owner: OwnerFacts,
  now: Date,
): void {
  if (intent !== 'api' && intent !== 'app_password') {
    throw new ValidationApiError({ intent: [`Invalid intent ${intent}`] });
  }
  if (intent === 'app_password' && expires) {
    const lifetime = parseTimedelta(owner.mergedAttributes[MAX_LIFETIME_ATTRIBUTE]);
    const max = new Date(now.getTime() + (lifetime ?? DEFAULT_TOKEN_DURATION_MS));
    if (expires > max) {
      throw new ValidationApiError({
        expires: [`Token expires exceeds maximum lifetime (${pyDatetime(max)} UTC).`],
      });
    }
    if (expires <= now) throw new ValidationApiError({ expires: ['Token expires in the past.'] });
  }
}

function refuseManaged(managed: string | null | undefined): void {
  if (managed !== undefined && managed !== null) {
    throw new ValidationApiError({ managed: ['Grantry has no managed tokens: managed must be null.'] });
  }
}

@CommandHandler(CreateTokenCommand)
export class CreateTokenHandler implements ICommandHandler<CreateTokenCommand> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sealer: Sealer,
    private readonly reader: TokenReader,
  ) {}

  async execute({ caller, body, flags, options }: CreateTokenCommand): Promise<CreatedToken> {
    refuseManaged(body.managed);
    const identifier = String(body.identifier);
    try {
      return await this.dataSource.transaction(async (manager) => {
        const errors: Record<string, string[]> = {};
        const requested = userPk(body.user);
        if (
          requested === null ||
          (requested !== undefined && !(await manager.existsBy(UserEntity, { id: requested })))
        ) {
          errors.user = [invalidPk(body.user as number | string)];
        }
        if (await manager.existsBy(ApiTokenEntity, { identifier })) errors.identifier = [IDENTIFIER_TAKEN];
        if (Object.keys(errors).length > 0) throw new ValidationApiError(errors);

        // perform_create: a non-superuser's token is their own, and expires as their attribute says.
        const superuser = callerIsSuperuser(caller);
        const userId = superuser ? (requested ?? callerUserId(caller)) : callerUserId(caller);
        if (userId === null || userId === undefined)
          throw new ValidationApiError({ user: ['This field is required.'] });
        const owner = await ownerFacts(manager, userId);
        const intent = (body.intent ?? 'api') as TokenIntent;
        const now = new Date();
        let expires =
          body.expires === undefined || body.expires === null ? null : parseDateTime(body.expires);
        let expiring: boolean;
        if (options.operator) {
          expiring = expires !== null;
        } else {
          validateIntentAndExpiry(intent, expires, owner, now);
          if (intent === 'api') expires = new Date(now.getTime() + DEFAULT_TOKEN_DURATION_MS);
          expiring = superuser ? (body.expiring ?? true) : owner.attributes[EXPIRING_ATTRIBUTE] !== false;
          // core/signals.py: an expiring token without an expiry gets the default duration.
          if (expiring && expires === null) expires = new Date(now.getTime() + DEFAULT_TOKEN_DURATION_MS);
        }
        const id = randomUUID();
        const key = generateTokenKey();
        const token = manager.create(ApiTokenEntity, {
          id,
          identifier,
          keyHash: sha256(key),
          intent,
          userId,
          description: body.description === undefined ? '' : String(body.description),
          expires,
          expiring,
          // The CLI prints the key itself; an API client reads it once from view_key/ (its create response has none).
          keyCopy:
            caller.kind === 'api'
              ? this.sealer.seal('token-view', Buffer.from(key, 'utf8'), keyCopyAad(id))
              : null,
          keyCopyUntil: caller.kind === 'api' ? new Date(now.getTime() + KEY_VIEW_WINDOW_MS) : null,
        });
        await manager.save(ApiTokenEntity, token);
        await recordEvent(manager, caller, {
          action: 'model_created',
          model: tokenRef(token),
          objectUserId: userId,
        });
        return {
          body: await this.reader.byId(manager, id, flags),
          key,
          token: { identifier, intent, expires },
        };
      });
    } catch (error) {
      if (isUniqueViolation(error, 'api_tokens_identifier_key')) {
        throw new ValidationApiError({ identifier: [IDENTIFIER_TAKEN] });
      }
      throw error;
    }
  }
}

/** The visible token, locked for a write; 404 when the caller cannot see it (authentik's get_object). */
async function lockVisible(
  manager: EntityManager,
  caller: Caller,
  identifier: string,
): Promise<ApiTokenEntity> {
  if (identifier.includes('\0') || identifier.length > 255) throw noMatch('Token');
  const tokens = manager.getRepository(ApiTokenEntity);
  const owner = visibleOwner(caller);
  if (owner === null) throw noMatch('Token');
  // Found, then locked by id: the lock waits for a concurrent write on the token and reads what it left.
  const visible = await tokens.findOne({
    select: { id: true },
    where: owner === undefined ? { identifier } : { identifier, userId: owner },
  });
  if (!visible) throw noMatch('Token');
  const token = await tokens.findOne({ where: { id: visible.id }, lock: { mode: 'pessimistic_write' } });
  if (!token) throw noMatch('Token');
  return token;
}

function isOwner(caller: Caller, token: ApiTokenEntity): boolean {
  return caller.kind === 'api' && caller.principal.userId === token.userId;
}

@CommandHandler(UpdateTokenCommand)
export class UpdateTokenHandler implements ICommandHandler<UpdateTokenCommand> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly reader: TokenReader,
  ) {}

  async execute({ caller, identifier, raw, partial, flags }: UpdateTokenCommand): Promise<JsonBody> {
    try {
      return await this.dataSource.transaction(async (manager) => {
        const token = await lockVisible(manager, caller, identifier);
        if (!isOwner(caller, token) && !callerCan(caller, CHANGE_TOKEN)) throw permissionDenied();
        const body: PatchedTokenRequest = await validateBody(
          partial ? PatchedTokenRequest : TokenRequest,
          raw,
        );
        refuseManaged(body.managed);
        const errors: Record<string, string[]> = {};
        const requested = userPk(body.user);
        if (
          requested === null ||
          (requested !== undefined && !(await manager.existsBy(UserEntity, { id: requested })))
        ) {
          errors.user = [invalidPk(body.user as number | string)];
        } else if (requested !== undefined && requested !== token.userId) {
          errors.user = ['User cannot be changed'];
        }
        const newIdentifier = body.identifier === undefined ? undefined : String(body.identifier);
        if (
          newIdentifier !== undefined &&
          newIdentifier !== token.identifier &&
          (await manager.existsBy(ApiTokenEntity, { identifier: newIdentifier }))
        ) {
          errors.identifier = [IDENTIFIER_TAKEN];
        }
        if (Object.keys(errors).length > 0) throw new ValidationApiError(errors);

        // Deliberately unlike authentik: an update keeps the owner and the intent it does not name (authentik
        // re-owns a token to a superuser who PATCHes without `user`, and turns an app password into an API token).
        const intent = (body.intent ?? token.intent) as TokenIntent;
        const now = new Date();
        let expires = token.expires;
        if (body.expires !== undefined) expires = body.expires === null ? null : parseDateTime(body.expires);
        if (body.intent !== undefined || body.expires !== undefined) {
          validateIntentAndExpiry(
            intent,
            body.expires === undefined ? undefined : expires,
            await ownerFacts(manager, token.userId),
            now,
          );
          // An API token's expiry cannot be chosen: writing intent or expiry sets it to now + one day.
          if (intent === 'api') expires = new Date(now.getTime() + DEFAULT_TOKEN_DURATION_MS);
        }
        // Only a superuser may change `expiring` (authentik forces it from the owner's attribute on create only).
        const expiring =
          callerIsSuperuser(caller) && body.expiring !== undefined ? body.expiring : token.expiring;
        if (expiring && expires === null) expires = new Date(now.getTime() + DEFAULT_TOKEN_DURATION_MS);
        token.identifier = newIdentifier ?? token.identifier;
        token.intent = intent;
        token.expires = expires;
        token.expiring = expiring;
        if (body.description !== undefined) token.description = String(body.description);
        await manager.update(
          ApiTokenEntity,
          { id: token.id },
          {
            identifier: token.identifier,
            intent,
            expires,
            expiring,
            description: token.description,
          },
        );
        await recordEvent(manager, caller, {
          action: 'model_updated',
          model: tokenRef(token),
          objectUserId: token.userId,
        });
        return this.reader.byId(manager, token.id, flags);
      });
    } catch (error) {
      if (isUniqueViolation(error, 'api_tokens_identifier_key')) {
        throw new ValidationApiError({ identifier: [IDENTIFIER_TAKEN] });
      }
      throw error;
    }
  }
}

@CommandHandler(DeleteTokenCommand)
export class DeleteTokenHandler implements ICommandHandler<DeleteTokenCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, identifier }: DeleteTokenCommand): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const token = await lockVisible(manager, caller, identifier);
      if (!isOwner(caller, token) && !callerCan(caller, DELETE_TOKEN)) throw permissionDenied();
      await manager.delete(ApiTokenEntity, { id: token.id });
      await recordEvent(manager, caller, {
        action: 'model_deleted',
        model: tokenRef(token),
        objectUserId: token.userId,
      });
    });
  }
}

@CommandHandler(ViewTokenKeyCommand)
export class ViewTokenKeyHandler implements ICommandHandler<ViewTokenKeyCommand> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sealer: Sealer,
  ) {}

  async execute({ caller, identifier }: ViewTokenKeyCommand): Promise<{ key: string }> {
    if (identifier.includes('\0') || identifier.length > 255) throw noMatch('Token');
    return this.dataSource.transaction(async (manager) => {
      // filter_backends=[] upstream: any token, expired or not, whoever owns it.
      const token = await manager.findOneBy(ApiTokenEntity, { identifier });
      if (!token) throw noMatch('Token');
      // authentik gives the creator the object permission view_token_key; Grantry lets the owner view.
      if (!callerCan(caller, VIEW_TOKEN_KEY) && !isOwner(caller, token)) throw permissionDenied();
      // One statement takes the copy and destroys it, so of two concurrent calls exactly one gets it; a copy past
      // its ten minutes is refused here even before the sweep deletes it.
      // Kept as SQL: TypeORM's update returns only the new value of a column it clears (null), never the old one.
      // (TypeORM answers an UPDATE's RETURNING rows as [rows, affected].)
      const [rows] = await manager.query<[{ key_copy: Buffer }[], number]>(
        `UPDATE api_tokens t SET key_copy = NULL, key_copy_until = NULL
           FROM (SELECT id, key_copy FROM api_tokens WHERE id = $1 FOR UPDATE) prior
          WHERE t.id = prior.id AND prior.key_copy IS NOT NULL AND t.key_copy_until > now()
          RETURNING prior.key_copy`,
        [token.id],
      );
      const sealed = rows[0]?.key_copy;
      if (!sealed) throw new ApiError(HttpStatus.FORBIDDEN, KEY_GONE);
      const key = this.sealer.open('token-view', sealed, keyCopyAad(token.id)).toString('utf8');
      // A copy that does not match the stored hash (a key set outside the API since) is never served.
      if (!sha256(key).equals(token.keyHash)) throw new ApiError(HttpStatus.FORBIDDEN, KEY_GONE);
      await recordEvent(manager, caller, {
        action: 'secret_view',
        app: 'authentik.core',
        context: { secret: tokenRef(token) },
        objectUserId: token.userId,
      });
      return { key };
    });
  }
}

@CommandHandler(SetTokenKeyCommand)
export class SetTokenKeyHandler implements ICommandHandler<SetTokenKeyCommand> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sealer: Sealer,
  ) {}

  async execute({ caller, identifier, key }: SetTokenKeyCommand): Promise<void> {
    await this.dataSource
      .transaction(async (manager) => {
        // authentik's @permission_required runs get_object (owner filter: 404) before its 403, and both before the
        // body is read.
        const token = await lockVisible(manager, caller, identifier);
        if (!callerCan(caller, SET_TOKEN_KEY)) throw permissionDenied();
        if (typeof key !== 'string' || key.trim() === '' || key.includes('\0') || key.length > 4096) {
          throw new EmptyBadRequest('the key must be a non-blank string');
        }
        const until = new Date(Date.now() + KEY_VIEW_WINDOW_MS);
        await manager.update(
          ApiTokenEntity,
          { id: token.id },
          {
            keyHash: sha256(key),
            // The API's caller may read the key they set once more from view_key/; the CLI prints it instead.
            keyCopy:
              caller.kind === 'api'
                ? this.sealer.seal('token-view', Buffer.from(key, 'utf8'), keyCopyAad(token.id))
                : null,
            keyCopyUntil: caller.kind === 'api' ? until : null,
          },
        );
        await recordEvent(manager, caller, {
          action: 'model_updated',
          app: 'authentik.core',
          model: tokenRef(token),
          objectUserId: token.userId,
        });
      })
      .catch((error: unknown) => {
        // The key is another token's: refused like a blank one, saying nothing about that token.
        if (isUniqueViolation(error, 'api_tokens_key_hash_key'))
          throw new EmptyBadRequest('the key must be a non-blank string');
        throw error;
      });
  }
}

export const TOKEN_COMMAND_HANDLERS = [
  CreateTokenHandler,
  UpdateTokenHandler,
  DeleteTokenHandler,
  ViewTokenKeyHandler,
  SetTokenKeyHandler,
];
