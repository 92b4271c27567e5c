import {
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Inject,
  Param,
  Query,
  Req,
  type Type,
} from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import {
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
import { CurrentPrincipal } from '../../common/auth/current-principal.decorator';
import type { Principal } from '../../common/auth/principal';
import type { JsonBody } from '../../common/serializers/json-body';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import type { GrantKind } from './grant-kind';
import {
  ExpiringBaseGrantModel,
  GenericError,
  INCIDENT_FILTER_QUERIES,
  PaginatedExpiringBaseGrantModelList,
  PaginatedTokenModelList,
  TokenModel,
  UsedBy,
  ValidationError,
} from './grant.openapi';
import { DeleteGrantCommand, GrantUsedByQuery, ListGrantsQuery, RetrieveGrantQuery } from './grant.queries';
import { parseFilters, parseId, parseListParams, parseRetrieveParams, type RawQuery } from './list-params';
import { MethodsNotAllowed } from './method-not-allowed';

/**
 * The controller of one grant type: authentik's four operations, with its operation ids and parameters, each a
 * query or command on the bus. PUT/PATCH/POST answer 405 after authentication, as DRF does.
 */
export function grantController(kind: GrantKind): Type<unknown> {
  const item = kind.isToken ? TokenModel : ExpiringBaseGrantModel;
  const page = kind.isToken ? PaginatedTokenModelList : PaginatedExpiringBaseGrantModelList;
  const id = ApiParam({
    name: 'id',
    type: 'integer',
    required: true,
    description: `A unique integer value identifying this ${kind.verboseName}.`,
  });
  const errors = [
    ApiResponse({ status: 400, type: ValidationError }),
    ApiResponse({ status: 403, type: GenericError }),
  ];
  const withErrors = (): MethodDecorator => (target, key, descriptor) => {
    for (const decorator of errors) decorator(target, key, descriptor);
  };
  // Grantry's incident filters, after authentik's parameters (decorators apply bottom-up, so these go above them).
  const incidentFilters = (): MethodDecorator => (target, key, descriptor) => {
    for (const options of INCIDENT_FILTER_QUERIES) ApiQuery(options)(target, key, descriptor);
  };

  @ApiTags('oauth2')
  @ApiSecurity('authentik')
  @MethodsNotAllowed({ methods: ['POST', 'PUT', 'PATCH', 'DELETE'], allow: 'GET, HEAD, OPTIONS' })
  @MethodsNotAllowed({ path: ':id', methods: ['POST', 'PUT', 'PATCH'], allow: 'GET, DELETE, HEAD, OPTIONS' })
  @MethodsNotAllowed({
    path: ':id/used_by',
    methods: ['POST', 'PUT', 'PATCH', 'DELETE'],
    allow: 'GET, HEAD, OPTIONS',
  })
  @Controller(kind.path)
  class GrantController {
    constructor(
      readonly queryBus: QueryBus,
      readonly commandBus: CommandBus,
      @Inject(APP_CONFIG) readonly config: AppConfig,
    ) {}

    @Get()
    @ApiOperation({ operationId: `${kind.operationPrefix}_list`, description: `${kind.modelName} Viewset` })
    // Swagger lists decorators bottom-up; this order gives authentik's parameter order.
    @incidentFilters()
    @ApiQuery({ name: 'user', required: false, type: 'integer' })
    @ApiQuery({ name: 'search', required: false, type: String, description: 'A search term.' })
    @ApiQuery({ name: 'provider', required: false, type: 'integer' })
    @ApiQuery({
      name: 'page_size',
      required: false,
      type: 'integer',
      description: 'Number of results to return per page.',
    })
    @ApiQuery({
      name: 'page',
      required: false,
      type: 'integer',
      description: 'A page number within the paginated result set.',
    })
    @ApiQuery({
      name: 'ordering',
      required: false,
      type: String,
      description: 'Which field to use when ordering the results.',
    })
    @ApiOkResponse({ type: page })
    @withErrors()
    list(@Query() query: RawQuery, @CurrentPrincipal() principal: Principal): Promise<JsonBody> {
      const params = parseListParams(kind, query, this.config.pageSizeDefault, this.config.pageSizeMax);
      return this.queryBus.execute(new ListGrantsQuery(kind, principal, params));
    }

    @Get(':id')
    @ApiOperation({
      operationId: `${kind.operationPrefix}_retrieve`,
      description: `${kind.modelName} Viewset`,
    })
    @incidentFilters()
    @id
    @ApiOkResponse({ type: item })
    @withErrors()
    retrieve(
      @Param('id') raw: string,
      @Query() query: RawQuery,
      @CurrentPrincipal() principal: Principal,
    ): Promise<JsonBody> {
      return this.queryBus.execute(
        new RetrieveGrantQuery(kind, principal, parseId(raw), parseRetrieveParams(query)),
      );
    }

    @Delete(':id')
    @HttpCode(HttpStatus.NO_CONTENT)
    @ApiOperation({
      operationId: `${kind.operationPrefix}_destroy`,
      description: `${kind.modelName} Viewset`,
    })
    @incidentFilters()
    @id
    @ApiNoContentResponse({ description: 'No response body' })
    @withErrors()
    async destroy(
      @Param('id') raw: string,
      @Query() query: RawQuery,
      @CurrentPrincipal() principal: Principal,
      @Req() request: FastifyRequest,
    ): Promise<void> {
      await this.commandBus.execute(
        new DeleteGrantCommand(kind, principal, parseId(raw), parseFilters(query), request.id),
      );
    }

    @Get(':id/used_by')
    @ApiOperation({
      operationId: `${kind.operationPrefix}_used_by_list`,
      description: 'Get a list of all objects that use this object',
    })
    @incidentFilters()
    @id
    @ApiOkResponse({ type: [UsedBy] })
    @withErrors()
    usedBy(
      @Param('id') raw: string,
      @Query() query: RawQuery,
      @CurrentPrincipal() principal: Principal,
    ): Promise<[]> {
      return this.queryBus.execute(new GrantUsedByQuery(kind, principal, parseId(raw), parseFilters(query)));
    }
  }
  Object.defineProperty(GrantController, 'name', { value: `${kind.modelName}Controller` });
  return GrantController;
}
