import { unvalidated } from '../common/validate-body';
import { OrderingQuery, PageQuery, PageSizeQuery, SearchQuery } from '../common/list-openapi';
import type { ApplicationInput } from './application.commands';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Patch,
  Post,
  Put,
  Query,
  Req,
} from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import {
  ApiBody,
  ApiExcludeEndpoint,
  ApiExtraModels,
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
import { GenericError, ValidationError } from '../../oauth2/grants/grant.openapi';
import { methodNotAllowed, notFound } from '../common/errors';
import { listMethodNotAllowed, type RawQuery } from '../providers/list-query';
import {
  CreateApplicationCommand,
  DeleteApplicationCommand,
  UpdateApplicationCommand,
} from './application.commands';
import {
  Application,
  ApplicationRequest,
  PaginatedApplicationList,
  PatchedApplicationRequest,
  ThemedUrls,
} from './application.dto';
import { ListApplicationsQuery, RetrieveApplicationQuery } from './application.queries';
import { APPLICATION_PERMISSION } from './application-store';

const SLUG = ApiParam({
  name: 'slug',
  required: true,
  schema: { type: 'string', description: 'Internal application name, used in URLs.' },
});
const ERRORS = (): MethodDecorator => (target, key, descriptor) => {
  ApiResponse({ status: 400, type: ValidationError })(target, key, descriptor);
  ApiResponse({ status: 403, type: GenericError })(target, key, descriptor);
};
const DESCRIPTION = 'Application Viewset';
const LIST_ALLOW = 'GET, POST, HEAD, OPTIONS';

/** authentik's lookup regex `[^/.]+`: a slug with a dot never reaches the view (a bare 404). */
function slugParam(raw: string): string {
  if (raw === '' || raw.includes('.')) throw notFound();
  return raw;
}

/** authentik's /api/v3/core/applications/ (reference §6), looked up by slug. */
@ApiTags('core')
@ApiSecurity('authentik')
@ApiExtraModels(ThemedUrls)
@Controller('core/applications')
export class ApplicationsController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'core_applications_list',
    description: 'Custom list method that checks Policy based access instead of guardian',
  })
  // Swagger lists decorators bottom-up; this order gives authentik's parameter order.
  @ApiQuery({ name: 'superuser_full_list', required: false, type: Boolean })
  @ApiQuery({ name: 'slug', required: false, type: String })
  @SearchQuery()
  @PageSizeQuery()
  @PageQuery()
  @OrderingQuery()
  @ApiQuery({ name: 'only_with_launch_url', required: false, type: Boolean })
  @ApiQuery({ name: 'name', required: false, type: String })
  @ApiQuery({ name: 'meta_publisher', required: false, type: String })
  @ApiQuery({ name: 'meta_launch_url', required: false, type: String })
  @ApiQuery({ name: 'meta_description', required: false, type: String })
  @ApiQuery({ name: 'group', required: false, type: String })
  @ApiQuery({ name: 'for_user', required: false, type: 'integer' })
  @ApiOkResponse({ type: PaginatedApplicationList })
  @ERRORS()
  list(
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<unknown> {
    return this.queryBus.execute(new ListApplicationsQuery(apiCaller(principal, request), query));
  }

  @Post()
  @HttpCode(HttpStatus.CREATED)
  @ApiOperation({ operationId: 'core_applications_create', description: DESCRIPTION })
  @ApiBody({ type: ApplicationRequest, required: true })
  @ApiResponse({ status: 201, type: Application })
  @ERRORS()
  async create(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<unknown> {
    return (
      await this.commandBus.execute(
        new CreateApplicationCommand(apiCaller(principal, request), unvalidated<ApplicationInput>(body)),
      )
    ).body;
  }

  @Get(':slug')
  @ApiOperation({ operationId: 'core_applications_retrieve', description: DESCRIPTION })
  @SLUG
  @ApiOkResponse({ type: Application })
  @ERRORS()
  retrieve(
    @Param('slug') slug: string,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<unknown> {
    return this.queryBus.execute(
      new RetrieveApplicationQuery(apiCaller(principal, request), slugParam(slug)),
    );
  }

  @Put(':slug')
  @ApiOperation({ operationId: 'core_applications_update', description: DESCRIPTION })
  @SLUG
  @ApiBody({ type: ApplicationRequest, required: true })
  @ApiOkResponse({ type: Application })
  @ERRORS()
  async update(
    @Param('slug') slug: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<unknown> {
    const caller = apiCaller(principal, request);
    return (
      await this.commandBus.execute(
        new UpdateApplicationCommand(caller, slugParam(slug), unvalidated<ApplicationInput>(body), false),
      )
    ).body;
  }

  @Patch(':slug')
  @ApiOperation({ operationId: 'core_applications_partial_update', description: DESCRIPTION })
  @SLUG
  @ApiBody({ type: PatchedApplicationRequest, required: false })
  @ApiOkResponse({ type: Application })
  @ERRORS()
  async partialUpdate(
    @Param('slug') slug: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<unknown> {
    const caller = apiCaller(principal, request);
    return (
      await this.commandBus.execute(
        new UpdateApplicationCommand(caller, slugParam(slug), unvalidated<ApplicationInput>(body), true),
      )
    ).body;
  }

  @Delete(':slug')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'core_applications_destroy', description: DESCRIPTION })
  @SLUG
  @ApiNoContentResponse({ description: 'No response body' })
  @ERRORS()
  async destroy(
    @Param('slug') slug: string,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<void> {
    await this.commandBus.execute(
      new DeleteApplicationCommand(apiCaller(principal, request), slugParam(slug)),
    );
  }

  // Other methods on the list URL: 405 to a caller holding the permission they would need, else 403 (DRF's
  // ObjectPermissions); on a detail URL, 405 to anyone authenticated.
  @Put() @ApiExcludeEndpoint() putList(@Req() r: FastifyRequest, @CurrentPrincipal() p: Principal): never {
    throw listMethodNotAllowed(r.method, hasPermission(p, APPLICATION_PERMISSION.change), LIST_ALLOW);
  }
  @Patch() @ApiExcludeEndpoint() patchList(
    @Req() r: FastifyRequest,
    @CurrentPrincipal() p: Principal,
  ): never {
    throw listMethodNotAllowed(r.method, hasPermission(p, APPLICATION_PERMISSION.change), LIST_ALLOW);
  }
  @Delete() @ApiExcludeEndpoint() deleteList(
    @Req() r: FastifyRequest,
    @CurrentPrincipal() p: Principal,
  ): never {
    throw listMethodNotAllowed(r.method, hasPermission(p, APPLICATION_PERMISSION.delete), LIST_ALLOW);
  }
  @Post(':slug') @ApiExcludeEndpoint() postItem(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS');
  }
}
