import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource, type EntityManager, Not } from 'typeorm';
import { type Caller, callerCan, callerUserId } from '../../common/auth/caller';
import { ValidationApiError } from '../../common/errors/api-error';
import { deletedCounts, modelRef, recordEvent } from '../../events/record-event';
import { findGroup } from '../../identity/accounts';
import { ApplicationEntity, type PolicyEngineMode } from '../../providers/application.entity';
import { ApplicationGroupEntity } from '../../providers/application-group.entity';
import { OAuth2ProviderEntity } from '../../providers/oauth2-provider.entity';
import { RESERVED_SLUGS } from '../../providers/providers';
import { isForeignKeyViolation, isUniqueViolation, noMatch, permissionDenied } from '../common/errors';
import { validateBody } from '../common/validate-body';
import {
  APPLICATION_APP,
  APPLICATION_MODEL,
  APPLICATION_PERMISSION,
  type ApplicationBody,
  applicationBodies,
  launchUser,
} from './application-store';
import { ApplicationRequest, PatchedApplicationRequest } from './application.dto';

export const SLUG_TAKEN = 'Application with this slug already exists.';
export const PROVIDER_TAKEN = 'Application with this provider already exists.';

export interface ApplicationInput {
  name?: string;
  slug?: string;
  provider?: number | string | null;
  backchannel_providers?: number[];
  open_in_new_tab?: boolean;
  meta_launch_url?: string;
  meta_icon?: string;
  meta_description?: string;
  meta_publisher?: string;
  policy_engine_mode?: string;
  group?: string;
}

export interface ApplicationWriteResult {
  body: ApplicationBody;
  application: ApplicationEntity;
  /** The names of the groups bound by this write (the CLI's --group), in the order given, each once. */
  groups: string[];
}

export class CreateApplicationCommand extends Command<ApplicationWriteResult> {
  constructor(
    readonly caller: Caller,
    readonly input: ApplicationInput,
    /** Grantry's group bindings (CLI only): who may use the application. */
    readonly groups: readonly string[] = [],
  ) {
    super();
  }
}

export class UpdateApplicationCommand extends Command<ApplicationWriteResult> {
  constructor(
    readonly caller: Caller,
    readonly slug: string,
    readonly input: ApplicationInput,
    readonly partial: boolean,
  ) {
    super();
  }
}

export class DeleteApplicationCommand extends Command<void> {
  constructor(
    readonly caller: Caller,
    readonly slug: string,
  ) {
    super();
  }
}

function trimmed(input: ApplicationInput): ApplicationInput {
  const out: ApplicationInput = { ...input };
  for (const key of [
    'name',
    'slug',
    'meta_launch_url',
    'meta_icon',
    'meta_description',
    'meta_publisher',
    'group',
  ] as const) {
    const value = out[key];
    if (typeof value === 'string') out[key] = value.trim();
  }
  return out;
}

/**
 * The checks that need the database or several fields, answered together as DRF would: reserved slugs
 * (authentik's validate_slug), unique slug and provider, an existing provider. Backchannel providers are refused:
 * Grantry has none (authentik's are SCIM, RAC... providers).
 */
async function checkApplicationInput(
  manager: EntityManager,
  input: ApplicationInput,
  existingId: string | null,
): Promise<number | null | undefined> {
  const errors: Record<string, string[]> = {};
  const others = existingId === null ? {} : { id: Not(existingId) };
  if (input.slug !== undefined) {
    if (RESERVED_SLUGS.has(input.slug)) {
      errors.slug = [`The slug '${input.slug}' is reserved and cannot be used for applications.`];
    } else if (await manager.existsBy(ApplicationEntity, { slug: input.slug, ...others })) {
      errors.slug = [SLUG_TAKEN];
    }
  }
  let providerId: number | null | undefined;
  if (input.provider !== undefined) {
    providerId = input.provider === null ? null : Number(input.provider);
    if (providerId !== null) {
      if (providerId > 2_147_483_647 || !(await manager.existsBy(OAuth2ProviderEntity, { id: providerId }))) {
        errors.provider = [`Invalid pk "${String(input.provider)}" - object does not exist.`];
      } else if (await manager.existsBy(ApplicationEntity, { providerId, ...others })) {
        errors.provider = [PROVIDER_TAKEN];
      }
    }
  }
  if (input.backchannel_providers !== undefined && input.backchannel_providers.length > 0) {
    errors.backchannel_providers = [
      'Grantry has no backchannel providers (SCIM, RAC, ...): backchannel_providers must be empty.',
    ];
  }
  if (Object.keys(errors).length > 0) throw new ValidationApiError(errors);
  return providerId;
}

function entityFields(
  input: ApplicationInput,
  providerId: number | null | undefined,
): Partial<ApplicationEntity> {
  const fields: Partial<ApplicationEntity> = {};
  if (input.name !== undefined) fields.name = input.name;
  if (input.slug !== undefined) fields.slug = input.slug;
  if (providerId !== undefined) fields.providerId = providerId;
  if (input.open_in_new_tab !== undefined) fields.openInNewTab = input.open_in_new_tab;
  if (input.meta_launch_url !== undefined) fields.metaLaunchUrl = input.meta_launch_url;
  if (input.meta_icon !== undefined) fields.metaIcon = input.meta_icon;
  if (input.meta_description !== undefined) fields.metaDescription = input.meta_description;
  if (input.meta_publisher !== undefined) fields.metaPublisher = input.meta_publisher;
  if (input.policy_engine_mode !== undefined)
    fields.policyEngineMode = input.policy_engine_mode as PolicyEngineMode;
  if (input.group !== undefined) fields.group = input.group;
  return fields;
}

/** A racing writer's unique or foreign-key violation answers what the checks would have. */
function raceError(error: unknown): unknown {
  if (isUniqueViolation(error, 'applications_slug_key'))
    return new ValidationApiError({ slug: [SLUG_TAKEN] });
  if (isUniqueViolation(error, 'applications_provider_id_key')) {
    return new ValidationApiError({ provider: [PROVIDER_TAKEN] });
  }
  if (isForeignKeyViolation(error)) {
    return new ValidationApiError({ provider: ['Invalid pk - object does not exist.'] });
  }
  return error;
}

function applicationRef(app: ApplicationEntity) {
  return modelRef(APPLICATION_APP, APPLICATION_MODEL, app.id, app.name);
}

async function bodyFor(manager: EntityManager, caller: Caller, id: string): Promise<ApplicationBody> {
  const [body] = await applicationBodies(manager, [id], await launchUser(manager, callerUserId(caller)));
  if (!body) throw new Error(`application ${id} vanished in its own transaction`);
  return body;
}

@CommandHandler(CreateApplicationCommand)
export class CreateApplicationHandler implements ICommandHandler<CreateApplicationCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute(command: CreateApplicationCommand): Promise<ApplicationWriteResult> {
    if (!callerCan(command.caller, APPLICATION_PERMISSION.add)) throw permissionDenied();
    const input = trimmed(await validateBody(ApplicationRequest, command.input));
    try {
      return await this.dataSource.transaction(async (manager) => {
        const providerId = await checkApplicationInput(manager, input, null);
        // Every group name is resolved before anything is written: an unknown one is an error naming it.
        const groups = [];
        for (const name of new Set(command.groups)) groups.push(await findGroup(manager, name));
        const application = await manager.save(
          manager.create(ApplicationEntity, { ...entityFields(input, providerId ?? null) }),
        );
        if (groups.length > 0) {
          await manager.insert(
            ApplicationGroupEntity,
            groups.map((group) => ({ applicationId: application.id, groupId: group.id })),
          );
        }
        await recordEvent(manager, command.caller, {
          action: 'model_created',
          model: applicationRef(application),
        });
        return {
          body: await bodyFor(manager, command.caller, application.id),
          application,
          groups: groups.map((group) => group.name),
        };
      });
    } catch (error) {
      throw raceError(error);
    }
  }
}

/** The application a URL names (`[^/.]+`, as authentik's router); locked for the write. */
export async function findApplication(
  manager: EntityManager,
  slug: string,
  lock: boolean,
): Promise<ApplicationEntity> {
  if (slug.includes('\0') || slug.length > 50) throw noMatch('Application');
  const application = await manager.findOne(ApplicationEntity, {
    where: { slug },
    ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
  });
  if (!application) throw noMatch('Application');
  return application;
}

@CommandHandler(UpdateApplicationCommand)
export class UpdateApplicationHandler implements ICommandHandler<UpdateApplicationCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute(command: UpdateApplicationCommand): Promise<ApplicationWriteResult> {
    if (!callerCan(command.caller, APPLICATION_PERMISSION.change)) throw permissionDenied();
    const input = trimmed(
      await validateBody(command.partial ? PatchedApplicationRequest : ApplicationRequest, command.input),
    );
    try {
      return await this.dataSource.transaction(async (manager) => {
        const application = await findApplication(manager, command.slug, true);
        const providerId = await checkApplicationInput(manager, input, application.id);
        const fields = entityFields(input, providerId);
        if (Object.keys(fields).length > 0)
          await manager.update(ApplicationEntity, { id: application.id }, fields);
        const updated = { ...application, ...fields };
        await recordEvent(manager, command.caller, {
          action: 'model_updated',
          model: applicationRef(updated),
        });
        return {
          body: await bodyFor(manager, command.caller, application.id),
          application: updated,
          groups: [],
        };
      });
    } catch (error) {
      throw raceError(error);
    }
  }
}

/**
 * Deletes an application with its group bindings and the consents given to it (foreign keys); its provider survives,
 * unassigned. The counts go in the event.
 */
@CommandHandler(DeleteApplicationCommand)
export class DeleteApplicationHandler implements ICommandHandler<DeleteApplicationCommand> {
  constructor(private readonly dataSource: DataSource) {}

  async execute(command: DeleteApplicationCommand): Promise<void> {
    if (!callerCan(command.caller, APPLICATION_PERMISSION.delete)) throw permissionDenied();
    await this.dataSource.transaction(async (manager) => {
      const application = await findApplication(manager, command.slug, true);
      const [counts] = await manager.query<{ consents: number; group_bindings: number }[]>(
        `SELECT (SELECT count(*)::int FROM user_consents WHERE application_id = $1) AS consents,
                (SELECT count(*)::int FROM application_groups WHERE application_id = $1) AS group_bindings`,
        [application.id],
      );
      await manager.delete(ApplicationEntity, { id: application.id });
      await recordEvent(manager, command.caller, {
        action: 'model_deleted',
        model: applicationRef(application),
        context: {
          deleted: deletedCounts([
            ['authentik_core.userconsent', counts?.consents ?? 0],
            ['authentik_core.application_groups', counts?.group_bindings ?? 0],
          ]),
        },
      });
    });
  }
}

export const APPLICATION_COMMAND_HANDLERS = [
  CreateApplicationHandler,
  UpdateApplicationHandler,
  DeleteApplicationHandler,
];
