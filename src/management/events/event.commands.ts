import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { type Caller, callerCan } from '../../common/auth/caller';
import type { JsonBody } from '../../common/serializers/json-body';
import { parseDateTime } from '../../common/validation/fields';
import { cleanse } from '../../events/record-event';
import { permissionDenied } from '../common/errors';
import { validateBody } from '../common/validate-body';
import { EventRequest } from './event.openapi';
import { EventReader } from './event-reader';

export const VIEW_EVENT = 'authentik_events.view_event';
const ADD_EVENT = 'authentik_events.add_event';

export class CreateEventCommand extends Command<JsonBody> {
  constructor(
    readonly caller: Caller,
    /** The raw body: validated after the permission check, as DRF does. */
    readonly body: unknown,
  ) {
    super();
  }
}

function safeInt(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && Math.abs(value) <= 2 ** 31 - 1
    ? value
    : null;
}

/**
 * POST /events/events/ (add_event): an event as the client describes it. The `user` dict is kept as given (and its
 * username and pk indexed for the `username` filter); keys of `context` that look like secrets are masked, as every
 * event Grantry records; `brand` is accepted and dropped (Grantry has no brands). Not itself audited: authentik's
 * audit middleware skips Event too.
 */
@CommandHandler(CreateEventCommand)
export class CreateEventHandler implements ICommandHandler<CreateEventCommand> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly reader: EventReader,
  ) {}

  async execute({ caller, body }: CreateEventCommand): Promise<JsonBody> {
    if (!callerCan(caller, ADD_EVENT)) throw permissionDenied();
    const dto = await validateBody(EventRequest, body);
    const user = (cleanse(dto.user ?? {}) as Record<string, unknown>) ?? {};
    const username = typeof user.username === 'string' ? user.username.slice(0, 150) : '';
    const email = typeof user.email === 'string' ? user.email.slice(0, 254) : '';
    const expires = dto.expires === undefined ? null : parseDateTime(dto.expires);
    const [row] = await this.dataSource.query<{ event_uuid: string }[]>(
      `INSERT INTO audit_events (action, app, actor_user_id, actor_username, actor_email, actor, client_ip, context,
                                 expires)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now() + '365 days'::interval))
       RETURNING event_uuid::text`,
      [
        dto.action,
        String(dto.app),
        safeInt(user.pk),
        username,
        email,
        JSON.stringify(user),
        dto.client_ip ?? null,
        JSON.stringify(cleanse(dto.context ?? {})),
        expires,
      ],
    );
    if (!row) throw new Error('INSERT ... RETURNING returned no row');
    // The event as written, even when the client dated its expiry in the past (it is hidden from then on).
    return this.reader.one(row.event_uuid, {}, true);
  }
}
