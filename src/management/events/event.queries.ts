import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { type Caller, callerCan } from '../../common/auth/caller';
import type { JsonBody } from '../../common/serializers/json-body';
import { isUuid } from '../../common/validation/fields';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { Inject } from '@nestjs/common';
import { notFound, permissionDenied } from '../common/errors';
import type { RawQuery } from '../tokens/token-reader';
import { VIEW_EVENT } from './event.commands';
import { EventReader, parseEventListParams } from './event-reader';

export class ListEventsQuery extends Query<JsonBody> {
  constructor(
    readonly caller: Caller,
    readonly query: RawQuery,
  ) {
    super();
  }
}

export class RetrieveEventQuery extends Query<JsonBody> {
  constructor(
    readonly caller: Caller,
    readonly eventUuid: string,
    readonly query: RawQuery,
  ) {
    super();
  }
}

/** Needs view_event (Grantry has no object permissions: without it, 403 rather than an empty list). */
@QueryHandler(ListEventsQuery)
export class ListEventsHandler implements IQueryHandler<ListEventsQuery> {
  constructor(
    private readonly reader: EventReader,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  execute({ caller, query }: ListEventsQuery): Promise<JsonBody> {
    if (!callerCan(caller, VIEW_EVENT)) throw permissionDenied();
    return this.reader.list(parseEventListParams(query, this.config));
  }
}

@QueryHandler(RetrieveEventQuery)
export class RetrieveEventHandler implements IQueryHandler<RetrieveEventQuery> {
  constructor(private readonly reader: EventReader) {}

  execute({ caller, eventUuid, query }: RetrieveEventQuery): Promise<JsonBody> {
    if (!callerCan(caller, VIEW_EVENT)) throw permissionDenied();
    // Django's UUIDField refuses the lookup value: DRF's bare 404.
    if (!isUuid(eventUuid)) throw notFound();
    return this.reader.one(eventUuid, query);
  }
}
