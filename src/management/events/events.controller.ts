import { OrderingQuery, PageQuery, PageSizeQuery, SearchQuery } from '../common/list-openapi';
import { Body, Controller, Delete, Get, Param, Patch, Post, Put, Query, Req } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import {
  ApiBody,
  ApiCreatedResponse,
  ApiExcludeEndpoint,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiResponse,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { apiCaller } from '../../common/auth/caller';
import { CurrentPrincipal } from '../../common/auth/current-principal.decorator';
import { hasPermission, type Principal } from '../../common/auth/principal';
import { CurrentRequest, type RequestMeta } from '../../common/http/request-meta';
import type { JsonBody } from '../../common/serializers/json-body';
import { EVENT_ACTIONS } from '../../events/record-event';
import { GenericError, ValidationError } from '../../oauth2/grants/grant.openapi';
import { methodNotAllowed, permissionDenied } from '../common/errors';
import type { RawQuery } from '../tokens/token-reader';
import { CreateEventCommand } from './event.commands';
import { Event, EventRequest, PaginatedEventList, PatchedEventRequest } from './event.openapi';
import { ListEventsQuery, RetrieveEventQuery } from './event.queries';

const errors = (): MethodDecorator => (target, key, descriptor) => {
  ApiResponse({ status: 400, type: ValidationError })(target, key, descriptor);
  ApiResponse({ status: 403, type: GenericError })(target, key, descriptor);
};
const eventUuid = ApiParam({
  name: 'event_uuid',
  type: String,
  format: 'uuid',
  required: true,
  description: 'A UUID string identifying this Event.',
});
const DESCRIPTION = 'Event Read-Only Viewset';
/** Grantry's event log is append-only: an event, once written, is neither changed nor deleted through the API. */
const ITEM_ALLOW = 'GET, HEAD, OPTIONS';

/** authentik's `/api/v3/events/events/` (events/api/events.py:EventViewSet). */
@ApiTags('events')
@ApiSecurity('authentik')
@Controller('events/events')
export class EventsController {
  constructor(
    private readonly queryBus: QueryBus,
    private readonly commandBus: CommandBus,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'events_events_list', description: DESCRIPTION })
  // Swagger lists decorators bottom-up; this order gives authentik's parameter order.
  @ApiQuery({ name: 'username', required: false, type: String, description: 'Username' })
  @SearchQuery()
  @PageSizeQuery()
  @PageQuery()
  @OrderingQuery()
  @ApiQuery({
    name: 'context_model_pk',
    required: false,
    type: String,
    description: 'Context Model Primary Key',
  })
  @ApiQuery({ name: 'context_model_name', required: false, type: String, description: 'Context Model Name' })
  @ApiQuery({ name: 'context_model_app', required: false, type: String, description: 'Context Model App' })
  @ApiQuery({
    name: 'context_device',
    required: false,
    type: String,
    description: 'Context Device Primary Key',
  })
  @ApiQuery({
    name: 'context_authorized_app',
    required: false,
    type: String,
    description: 'Context Authorized application',
  })
  @ApiQuery({ name: 'client_ip', required: false, type: String })
  @ApiQuery({ name: 'brand_name', required: false, type: String, description: 'Brand name' })
  @ApiQuery({
    name: 'actions',
    required: false,
    enum: EVENT_ACTIONS,
    enumName: 'EventActions',
    isArray: true,
    explode: true,
    style: 'form',
  })
  @ApiQuery({ name: 'action', required: false, type: String })
  @ApiOkResponse({ type: PaginatedEventList })
  @errors()
  list(
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<JsonBody> {
    return this.queryBus.execute(new ListEventsQuery(apiCaller(principal, request), query));
  }

  @Post()
  @ApiOperation({ operationId: 'events_events_create', description: DESCRIPTION })
  @ApiBody({ type: EventRequest, required: true })
  @ApiCreatedResponse({ type: Event })
  @errors()
  create(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<JsonBody> {
    return this.commandBus.execute(new CreateEventCommand(apiCaller(principal, request), body));
  }

  @Get(':event_uuid')
  @ApiOperation({ operationId: 'events_events_retrieve', description: DESCRIPTION })
  @eventUuid
  @ApiOkResponse({ type: Event })
  @errors()
  retrieve(
    @Param('event_uuid') id: string,
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<JsonBody> {
    return this.queryBus.execute(new RetrieveEventQuery(apiCaller(principal, request), id, query));
  }

  // In the document for authentik's generated clients; Grantry's event log is append-only, so 405 for everyone.
  @Put(':event_uuid')
  @ApiOperation({ operationId: 'events_events_update', description: DESCRIPTION })
  @eventUuid
  @ApiBody({ type: EventRequest, required: true })
  @ApiOkResponse({ type: Event })
  @errors()
  update(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ITEM_ALLOW);
  }

  @Patch(':event_uuid')
  @ApiOperation({ operationId: 'events_events_partial_update', description: DESCRIPTION })
  @eventUuid
  @ApiBody({ type: PatchedEventRequest, required: false })
  @ApiOkResponse({ type: Event })
  @errors()
  partialUpdate(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ITEM_ALLOW);
  }

  @Delete(':event_uuid')
  @ApiOperation({ operationId: 'events_events_destroy', description: DESCRIPTION })
  @eventUuid
  @ApiNoContentResponse({ description: 'No response body' })
  @errors()
  destroy(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ITEM_ALLOW);
  }

  @Post(':event_uuid') @ApiExcludeEndpoint() postItem(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ITEM_ALLOW);
  }
  // PUT/PATCH/DELETE on the list URL: DRF's ObjectPermissions asks for change_/delete_ first, then 405.
  @Put() @ApiExcludeEndpoint() putList(@Req() r: FastifyRequest, @CurrentPrincipal() p: Principal): never {
    return listMethod(r, p, 'authentik_events.change_event');
  }
  @Patch() @ApiExcludeEndpoint() patchList(
    @Req() r: FastifyRequest,
    @CurrentPrincipal() p: Principal,
  ): never {
    return listMethod(r, p, 'authentik_events.change_event');
  }
  @Delete() @ApiExcludeEndpoint() deleteList(
    @Req() r: FastifyRequest,
    @CurrentPrincipal() p: Principal,
  ): never {
    return listMethod(r, p, 'authentik_events.delete_event');
  }
}

function listMethod(request: FastifyRequest, principal: Principal, permission: string): never {
  if (!hasPermission(principal, permission)) throw permissionDenied();
  throw methodNotAllowed(request.method, 'GET, POST, HEAD, OPTIONS');
}
