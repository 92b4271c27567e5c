import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource, type EntityManager, type EntityTarget, In, IsNull, Not } from 'typeorm';
import { isUuid } from '../../common/validation/fields';
import { ApiTokenEntity } from '../../identity/api-token.entity';
import { GroupEntity } from '../../identity/group.entity';
import { RoleEntity } from '../../identity/role.entity';
import { AccessTokenEntity } from '../../oauth2/access-tokens/access-token.entity';
import { AuthorizationCodeEntity } from '../../oauth2/authorization-codes/authorization-code.entity';
import { DeviceTokenEntity } from '../../oauth2/issuance/store/device-token.entity';
import { RefreshTokenEntity } from '../../oauth2/refresh-tokens/refresh-token.entity';
import { SessionEntity } from '../../sessions/session.entity';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { type Caller, callerCan, callerIsSuperuser } from '../../common/auth/caller';
import { EmptyBadRequest, ValidationApiError } from '../../common/errors/api-error';
import type { UserDto, UserRow } from '../../common/serializers/user';
import { deletedCounts, modelRef, recordEvent } from '../../events/record-event';
import { hashPassword, passwordProblem } from '../../identity/password';
import { UserEntity } from '../../identity/user.entity';
import { Metrics } from '../../metrics/metrics';
import {
  isForeignKeyViolation,
  isUniqueViolation,
  nonFieldError,
  noMatch,
  permissionDenied,
} from '../common/errors';
import { validateBody } from '../common/validate-body';
import { PatchedUserRequest, UserRequest } from './users.dto';
import { UserStore } from './user-store';

export const PERMS = {
  view: 'authentik_core.view_user',
  add: 'authentik_core.add_user',
  change: 'authentik_core.change_user',
  delete: 'authentik_core.delete_user',
  resetPassword: 'authentik_core.reset_user_password',
} as const;

export const MESSAGES = {
  unique: 'This field must be unique.',
  setInternalServiceAccount: 'Setting a user to internal service account is not allowed.',
  changeInternalServiceAccount: "Can't change internal service account to other user type.",
  modifyInternalServiceAccount: "Can't modify internal service account users",
  lastSuperuser:
    'This would leave no active superuser: keep at least one active member of a superuser group.',
  doesNotExist: (pk: string) => `Invalid pk "${pk}" - object does not exist.`,
} as const;

const ISA = 'internal_service_account';

/** DRF's CharField trims surrounding whitespace before storing. */
/** DRF's CharField: a number is read as its text (validated as such), surrounding whitespace is trimmed. */
const trim = (value: string | number | undefined): string | undefined =>
  value === undefined ? undefined : String(value).trim();

/** The rows a deactivation or deletion ended or deleted, for the event's context and the caller. */
export interface Cascade {
  sessions: number;
  access_tokens: number;
  refresh_tokens: number;
  device_tokens: number;
  authorization_codes: number;
  api_tokens?: number;
}

/** The event context of a cascade: what was deleted and which sessions were ended (see deletedCounts). */
function cascadeContext(cascade: Cascade): Record<string, unknown> {
  const deleted = deletedCounts([
    ['authentik_providers_oauth2.accesstoken', cascade.access_tokens],
    ['authentik_providers_oauth2.refreshtoken', cascade.refresh_tokens],
    ['authentik_providers_oauth2.devicetoken', cascade.device_tokens],
    ['authentik_providers_oauth2.authorizationcode', cascade.authorization_codes],
    ...(cascade.api_tokens === undefined
      ? []
      : [['authentik_core.token', cascade.api_tokens] as [string, number]]),
  ]);
  return { deleted, ended: deletedCounts([['authentik_core.authenticatedsession', cascade.sessions]]) };
}

/**
 * Cuts a user off: ends their browser sessions and deletes their OAuth2 grants (authentik's `user_deactivated`
 * signal deletes access, refresh and device tokens; Grantry also ends the sessions on PUT, and drops pending
 * authorization codes), inside the caller's transaction, counting each.
 */
async function cutOff(manager: EntityManager, userId: number, metrics: Metrics): Promise<Cascade> {
  const ended = await manager.update(SessionEntity, { userId, ended: IsNull() }, { ended: () => 'now()' });
  const deleted = async (entity: EntityTarget<{ userId: number | null }>): Promise<number> =>
    (await manager.delete(entity, { userId })).affected ?? 0;
  const cascade: Cascade = {
    sessions: ended.affected ?? 0,
    access_tokens: await deleted(AccessTokenEntity),
    refresh_tokens: await deleted(RefreshTokenEntity),
    device_tokens: await deleted(DeviceTokenEntity),
    authorization_codes: await deleted(AuthorizationCodeEntity),
  };
  metrics.grantsRevoked('access_token', cascade.access_tokens, 'user_cut_off', manager);
  metrics.grantsRevoked('refresh_token', cascade.refresh_tokens, 'user_cut_off', manager);
  metrics.grantsRevoked('authorization_code', cascade.authorization_codes, 'user_cut_off', manager);
  return cascade;
}

const SUPERUSER_LOCK = "hashtext('grantry.active_superusers')";

/**
 * Serializes the writes that may remove an active superuser (deactivation, demotion, deletion), so two of them
 * cannot each leave the other as "the last one" and both commit. (SQL: TypeORM has no advisory locks.)
 */
async function lockSuperusers(manager: EntityManager): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock(${SUPERUSER_LOCK})`);
}

/**
 * 400 when no active superuser is left (checked after the write, inside its transaction). SQL: superuser status
 * through the group tree is in the user's stored document (kept by triggers), which no entity maps.
 */
async function requireActiveSuperuser(manager: EntityManager): Promise<void> {
  const [row] = await manager.query<{ ok: boolean }[]>(
    `SELECT EXISTS (SELECT 1 FROM users u JOIN user_documents d ON d.user_id = u.id
                     WHERE u.is_active AND (d.doc->>'is_superuser')::boolean) AS ok`,
  );
  if (!row?.ok) throw nonFieldError(MESSAGES.lastSuperuser);
}

interface UserInput {
  username?: string;
  name?: string;
  is_active?: boolean;
  last_login?: string | null;
  groups?: string[];
  roles?: string[];
  email?: string;
  attributes?: Record<string, unknown>;
  path?: string;
  type?: UserEntity['type'];
}

function normalize(dto: UserRequest | PatchedUserRequest): UserInput {
  return {
    username: trim(dto.username),
    name: trim(dto.name),
    is_active: dto.is_active,
    last_login: dto.last_login,
    groups: dto.groups?.map((pk) => String(pk)),
    roles: dto.roles?.map((pk) => String(pk)),
    email: trim(dto.email),
    attributes: dto.attributes,
    path: trim(dto.path),
    type: dto.type,
  };
}

/**
 * The checks that need the database, in the serializer's field order: username unique (case-sensitive, as DRF's
 * UniqueValidator), groups and roles exist. `extra` holds field errors found earlier (type rules).
 */
async function checkFields(
  manager: EntityManager,
  input: UserInput,
  exceptId: number | undefined,
  extra: Record<string, string[]>,
): Promise<void> {
  const errors: Record<string, string[]> = {};
  if (input.username !== undefined) {
    const taken = await manager.existsBy(UserEntity, {
      username: input.username,
      ...(exceptId === undefined ? {} : { id: Not(exceptId) }),
    });
    if (taken) errors.username = [MESSAGES.unique];
  }
  for (const [key, table] of [
    ['groups', 'groups'],
    ['roles', 'roles'],
  ] as const) {
    const pks = input[key];
    if (!pks || pks.length === 0) continue;
    const missing = await firstMissing(manager, table, pks);
    if (missing !== undefined) errors[key] = [MESSAGES.doesNotExist(missing)];
  }
  if (extra.type) errors.type = extra.type;
  if (Object.keys(errors).length > 0) throw new ValidationApiError(errors);
}

/** The first of `pks` (as given) with no row in `table`. Integers and malformed UUIDs never name a row. */
async function firstMissing(
  manager: EntityManager,
  table: 'groups' | 'roles',
  pks: string[],
): Promise<string | undefined> {
  const uuids = [...new Set(pks.filter(isUuid).map((pk) => pk.toLowerCase()))];
  const found =
    uuids.length === 0
      ? []
      : await manager.find(table === 'groups' ? GroupEntity : RoleEntity, {
          select: { id: true },
          where: { id: In(uuids) },
        });
  const existing = new Set(found.map((row) => row.id));
  return pks.find((pk) => !isUuid(pk) || !existing.has(canonicalUuid(pk)));
}

/** A UUID as PostgreSQL prints it (lower case, dashed), for comparing with loaded ids. */
function canonicalUuid(pk: string): string {
  const hex = pk.replaceAll('-', '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** DRF's `.set()`: the user's groups (or roles) become exactly `pks` (unknown ones were refused before). */
async function setRelated(
  manager: EntityManager,
  relation: 'groups' | 'roles',
  userId: number,
  pks: string[],
): Promise<void> {
  const related = manager.createQueryBuilder().relation(UserEntity, relation).of(userId);
  const current = new Set((await related.loadMany<{ id: string }>()).map((row) => row.id));
  const wanted = new Set(pks.map(canonicalUuid));
  await related.addAndRemove(
    [...wanted].filter((id) => !current.has(id)),
    [...current].filter((id) => !wanted.has(id)),
  );
}

/** A write that lost a race: a duplicate username, or a group/role deleted after the check. */
async function raceError(error: unknown, dataSource: DataSource, input: UserInput): Promise<unknown> {
  if (isUniqueViolation(error, 'users_username_key')) {
    return new ValidationApiError({ username: [MESSAGES.unique] });
  }
  if (isForeignKeyViolation(error)) {
    const errors: Record<string, string[]> = {};
    for (const key of ['groups', 'roles'] as const) {
      const missing = input[key] ? await firstMissing(dataSource.manager, key, input[key]) : undefined;
      if (missing !== undefined) errors[key] = [MESSAGES.doesNotExist(missing)];
    }
    if (Object.keys(errors).length > 0) return new ValidationApiError(errors);
  }
  return error;
}

/**
 * Grantry's guard against escalation (authentik has none: a holder of change_user may add anyone to a superuser
 * group, and a holder of reset_user_password may set a superuser's password and sign in as them): only superusers
 * (and the CLI) may write to a superuser or make someone one. Answered after the write, inside its transaction, from
 * the refreshed document, so superuser status through any ancestor group counts.
 */
function guardSuperuser(caller: Caller, isSuperuser: boolean): void {
  if (isSuperuser && !callerIsSuperuser(caller)) throw permissionDenied();
}

const userRef = (id: number, username: string) => modelRef('authentik_core', 'user', id, username);

export class CreateUserCommand extends Command<UserDto> {
  constructor(
    readonly caller: Caller,
    readonly body: unknown,
    /** CLI only (`user create --password-stdin`): a password to set in the same transaction. */
    readonly password?: string,
  ) {
    super();
  }
}

export class UpdateUserCommand extends Command<UserDto> {
  constructor(
    readonly caller: Caller,
    readonly id: number,
    readonly body: unknown,
    /** PATCH (absent fields untouched) rather than PUT (groups and roles reset to [] when absent). */
    readonly partial: boolean,
  ) {
    super();
  }
}

export class DeleteUserCommand extends Command<Cascade> {
  constructor(
    readonly caller: Caller,
    readonly id: number,
  ) {
    super();
  }
}

export class SetUserPasswordCommand extends Command<void> {
  constructor(
    readonly caller: Caller,
    readonly id: number,
    readonly body: unknown,
  ) {
    super();
  }
}

/** authentik's get_object under ObjectFilter: no `view_user` is 403, then a missing user is 404. */
async function findVisible(dataSource: DataSource, caller: Caller, id: number): Promise<void> {
  if (!callerCan(caller, PERMS.view)) throw permissionDenied();
  if (!(await dataSource.manager.existsBy(UserEntity, { id }))) throw noMatch('User');
}

interface LockedUser {
  id: number;
  username: string;
  type: UserEntity['type'];
  is_active: boolean;
  is_superuser: boolean;
}

/** The user, locked for the write; SQL for the superuser flag through the group tree, kept in the stored document. */
async function lockUser(manager: EntityManager, id: number): Promise<LockedUser> {
  const [row] = await manager.query<LockedUser[]>(
    `SELECT u.id, u.username, u.type, u.is_active, COALESCE((d.doc->>'is_superuser')::boolean, false) AS is_superuser
       FROM users u LEFT JOIN user_documents d ON d.user_id = u.id WHERE u.id = $1 FOR UPDATE OF u`,
    [id],
  );
  if (!row) throw noMatch('User');
  return row;
}

@CommandHandler(CreateUserCommand)
export class CreateUserHandler implements ICommandHandler<CreateUserCommand> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly store: UserStore,
  ) {}

  async execute({ caller, body, password }: CreateUserCommand): Promise<UserDto> {
    if (!callerCan(caller, PERMS.add)) throw permissionDenied();
    const input = normalize(await validateBody(UserRequest, body));
    const typeErrors: Record<string, string[]> =
      input.type === ISA ? { type: [MESSAGES.setInternalServiceAccount] } : {};
    const hash = password === undefined ? undefined : await hashPassword(password);
    try {
      const doc = await this.dataSource.transaction(async (manager) => {
        await checkFields(manager, input, undefined, typeErrors);
        const user = await manager.getRepository(UserEntity).save(
          manager.create(UserEntity, {
            username: input.username,
            name: input.name ?? '',
            email: input.email ?? '',
            isActive: input.is_active ?? true,
            lastLogin: null,
            path: input.path ?? 'users',
            type: input.type ?? 'internal',
            attributes: input.attributes ?? {},
            // An unusable password (authentik's `set_unusable_password`): NULL never verifies.
            password: null,
          }),
        );
        if (input.last_login) await setLastLogin(manager, user.id, input.last_login);
        await setRelated(manager, 'groups', user.id, input.groups ?? []);
        await setRelated(manager, 'roles', user.id, input.roles ?? []);
        await recordEvent(manager, caller, {
          action: 'model_created',
          model: userRef(user.id, user.username),
          objectUserId: user.id,
        });
        if (hash !== undefined) {
          await manager.update(
            UserEntity,
            { id: user.id },
            { password: hash, passwordChangeDate: () => 'now()' },
          );
          await recordEvent(manager, caller, {
            action: 'password_set',
            model: userRef(user.id, user.username),
            objectUserId: user.id,
          });
        }
        const doc = await this.mustDocument(manager, user.id);
        guardSuperuser(caller, doc.is_superuser);
        return doc;
      });
      return await this.store.serialize(doc);
    } catch (error) {
      throw await raceError(error, this.dataSource, input);
    }
  }

  private async mustDocument(manager: EntityManager, id: number): Promise<UserRow> {
    const doc = await this.store.document(id, manager);
    if (!doc) throw new Error(`user ${id} has no document`);
    return doc;
  }
}

@CommandHandler(UpdateUserCommand)
export class UpdateUserHandler implements ICommandHandler<UpdateUserCommand> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly store: UserStore,
    private readonly metrics: Metrics,
  ) {}

  async execute({ caller, id, body, partial }: UpdateUserCommand): Promise<UserDto> {
    await findVisible(this.dataSource, caller, id);
    if (!callerCan(caller, PERMS.change)) throw permissionDenied();
    const input = normalize(await validateBody(partial ? PatchedUserRequest : UserRequest, body));
    if (!partial) {
      // PUT: fields declared with default=list are reset when omitted (authentik's User.groups / User.roles).
      input.groups ??= [];
      input.roles ??= [];
    }
    try {
      const doc = await this.dataSource.transaction(async (manager) => {
        const before = await lockUser(manager, id);
        guardSuperuser(caller, before.is_superuser);
        const typeErrors: Record<string, string[]> = {};
        if (input.type !== undefined && before.type === ISA && input.type !== ISA) {
          typeErrors.type = [MESSAGES.changeInternalServiceAccount];
        } else if (input.type === ISA && before.type !== ISA) {
          // Stricter than authentik (which only refuses it on create): the type is Grantry's own to assign.
          typeErrors.type = [MESSAGES.setInternalServiceAccount];
        }
        await checkFields(manager, input, id, typeErrors);
        if (before.type === ISA) throw nonFieldError(MESSAGES.modifyInternalServiceAccount);
        const guard = before.is_active && before.is_superuser;
        if (guard) await lockSuperusers(manager);

        const changes: QueryDeepPartialEntity<UserEntity> = {};
        if (input.username !== undefined) changes.username = input.username;
        if (input.name !== undefined) changes.name = input.name;
        if (input.is_active !== undefined) changes.isActive = input.is_active;
        if (input.email !== undefined) changes.email = input.email;
        if (input.attributes !== undefined)
          changes.attributes = input.attributes as QueryDeepPartialEntity<UserEntity>['attributes'];
        if (input.path !== undefined) changes.path = input.path;
        if (input.type !== undefined) changes.type = input.type;
        if (input.last_login === null) changes.lastLogin = null;
        await manager.getRepository(UserEntity).update({ id }, { ...changes, lastUpdated: () => 'now()' });
        if (input.last_login) await setLastLogin(manager, id, input.last_login);
        if (input.groups !== undefined) await setRelated(manager, 'groups', id, input.groups);
        if (input.roles !== undefined) await setRelated(manager, 'roles', id, input.roles);

        const isActive = input.is_active ?? before.is_active;
        const cascade = isActive ? undefined : await cutOff(manager, id, this.metrics);
        if (guard) await requireActiveSuperuser(manager);
        await recordEvent(manager, caller, {
          action: 'model_updated',
          model: userRef(id, input.username ?? before.username),
          context: cascade ? cascadeContext(cascade) : undefined,
          objectUserId: id,
        });
        const doc = await this.store.document(id, manager);
        if (!doc) throw new Error(`user ${id} has no document`);
        guardSuperuser(caller, doc.is_superuser);
        return doc;
      });
      return await this.store.serialize(doc);
    } catch (error) {
      throw await raceError(error, this.dataSource, input);
    }
  }
}

/**
 * `last_login` as sent (a Date would drop its microseconds); a value without a zone is UTC, as Django reads naive
 * datetimes with authentik's TIME_ZONE.
 */
async function setLastLogin(manager: EntityManager, id: number, value: string): Promise<void> {
  const zoned = /(Z|[+-]\d{2}(:?\d{2})?)$/i.test(value) ? value : `${value}Z`;
  await manager
    .createQueryBuilder()
    .update(UserEntity)
    .set({ lastLogin: () => 'CAST(:lastLogin AS timestamptz)' })
    .setParameter('lastLogin', zoned)
    .where('id = :id', { id })
    .execute();
}

@CommandHandler(DeleteUserCommand)
export class DeleteUserHandler implements ICommandHandler<DeleteUserCommand> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly metrics: Metrics,
  ) {}

  async execute({ caller, id }: DeleteUserCommand): Promise<Cascade> {
    await findVisible(this.dataSource, caller, id);
    if (!callerCan(caller, PERMS.delete)) throw permissionDenied();
    return this.dataSource.transaction(async (manager) => {
      const before = await lockUser(manager, id);
      guardSuperuser(caller, before.is_superuser);
      const guard = before.is_active && before.is_superuser;
      if (guard) await lockSuperusers(manager);
      const cascade = await cutOff(manager, id, this.metrics);
      // The rest goes by foreign key (ON DELETE CASCADE): API tokens, memberships, consents, the document.
      cascade.api_tokens = await manager.countBy(ApiTokenEntity, { userId: id });
      await manager.getRepository(UserEntity).delete({ id });
      if (guard) await requireActiveSuperuser(manager);
      // Grantry keeps the user's events (authentik's gdpr_compliance would delete them): they are the audit trail.
      await recordEvent(manager, caller, {
        action: 'model_deleted',
        model: userRef(id, before.username),
        context: cascadeContext(cascade),
        objectUserId: id,
      });
      return cascade;
    });
  }
}

@CommandHandler(SetUserPasswordCommand)
export class SetUserPasswordHandler implements ICommandHandler<SetUserPasswordCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, id, body }: SetUserPasswordCommand): Promise<void> {
    await findVisible(this.dataSource, caller, id);
    if (!callerCan(caller, PERMS.resetPassword)) throw permissionDenied();
    const password =
      body !== null && typeof body === 'object' && !Array.isArray(body)
        ? (body as Record<string, unknown>).password
        : undefined;
    // authentik answers any invalid body with an empty 400; Grantry's length rules (8 to 1024) apply too.
    if (typeof password !== 'string' || password.trim() === '' || passwordProblem(password) !== undefined) {
      throw new EmptyBadRequest('the password must be 8 to 1024 characters long and not blank');
    }
    const hash = await hashPassword(password);
    await this.dataSource.transaction(async (manager) => {
      const user = await lockUser(manager, id);
      guardSuperuser(caller, user.is_superuser);
      await manager
        .getRepository(UserEntity)
        .update({ id }, { password: hash, passwordChangeDate: () => 'now()', lastUpdated: () => 'now()' });
      await recordEvent(manager, caller, {
        action: 'password_set',
        model: userRef(id, user.username),
        objectUserId: id,
      });
    });
  }
}
