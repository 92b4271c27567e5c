import { unvalidated } from '../common/validate-body';
import { OrderingQuery, PageQuery, PageSizeQuery, SearchQuery } from '../common/list-openapi';
import type { ProviderInput } from './provider-store';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Inject,
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
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { GenericError, OAuth2Provider, ValidationError } from '../../oauth2/grants/grant.openapi';
import { baseUrl } from '../../oauth2/issuance/core/http';
import { methodNotAllowed } from '../common/errors';
import { lastValue, listMethodNotAllowed, parseIntegerPk, type RawQuery } from './list-query';
import {
  CreateProviderCommand,
  DeleteProviderCommand,
  PROVIDER_PERMISSION,
  UpdateProviderCommand,
} from './provider.commands';
import {
  OAuth2ProviderRequest,
  OAuth2ProviderSetupURLs,
  PaginatedOAuth2ProviderList,
  PatchedOAuth2ProviderRequest,
  PropertyMappingPreview,
} from './provider.dto';
import {
  ListProvidersQuery,
  PreviewProviderUserQuery,
  ProviderSetupUrlsQuery,
  RetrieveProviderQuery,
} from './provider.queries';

const ID = ApiParam({
  name: 'id',
  type: 'integer',
  required: true,
  description: 'A unique integer value identifying this OAuth2/OpenID Provider.',
});
const ERRORS = (): MethodDecorator => (target, key, descriptor) => {
  ApiResponse({ status: 400, type: ValidationError })(target, key, descriptor);
  ApiResponse({ status: 403, type: GenericError })(target, key, descriptor);
};
const DESCRIPTION = 'OAuth2Provider Viewset';
const ITEM_ALLOW = 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS';
const ACTION_ALLOW = 'GET, HEAD, OPTIONS';

const stringQuery = (name: string, format?: string): MethodDecorator =>
  ApiQuery({ name, required: false, type: String, ...(format ? { format } : {}) });

/** authentik's /api/v3/providers/oauth2/ (reference §5): each operation a command or query on the bus. */
@ApiTags('providers')
@ApiSecurity('authentik')
@Controller('providers/oauth2')
export class ProvidersController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'providers_oauth2_list', description: DESCRIPTION })
  // Swagger lists decorators bottom-up; this order gives authentik's parameter order.
  @ApiQuery({
    name: 'sub_mode',
    required: false,
    enum: ['hashed_user_id', 'user_id', 'user_uuid', 'user_username', 'user_email', 'user_upn'],
    enumName: 'SubModeEnum',
  })
  @stringQuery('signing_key', 'uuid')
  @SearchQuery()
  @stringQuery('refresh_token_validity')
  @ApiQuery({
    name: 'property_mappings',
    required: false,
    type: String,
    format: 'uuid',
    isArray: true,
    explode: true,
    style: 'form',
  })
  @PageSizeQuery()
  @PageQuery()
  @OrderingQuery()
  @ApiQuery({ name: 'name', required: false, type: String })
  @ApiQuery({
    name: 'issuer_mode',
    required: false,
    enum: ['global', 'per_provider'],
    enumName: 'IssuerModeEnum',
  })
  @ApiQuery({ name: 'include_claims_in_id_token', required: false, type: Boolean })
  @ApiQuery({
    name: 'client_type',
    required: false,
    enum: ['confidential', 'public'],
    enumName: 'ClientTypeEnum',
  })
  @stringQuery('client_id')
  @stringQuery('authorization_flow', 'uuid')
  @stringQuery('application', 'uuid')
  @stringQuery('access_token_validity')
  @stringQuery('access_code_validity')
  @ApiOkResponse({ type: PaginatedOAuth2ProviderList })
  @ERRORS()
  list(
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<unknown> {
    return this.queryBus.execute(new ListProvidersQuery(apiCaller(principal, request), query));
  }

  @Post()
  @HttpCode(HttpStatus.CREATED)
  @ApiOperation({ operationId: 'providers_oauth2_create', description: DESCRIPTION })
  @ApiBody({ type: OAuth2ProviderRequest, required: true })
  @ApiResponse({ status: 201, type: OAuth2Provider })
  @ERRORS()
  async create(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<unknown> {
    return (
      await this.commandBus.execute(
        new CreateProviderCommand(apiCaller(principal, request), unvalidated<ProviderInput>(body)),
      )
    ).body;
  }

  @Get(':id')
  @ApiOperation({ operationId: 'providers_oauth2_retrieve', description: DESCRIPTION })
  @ID
  @ApiOkResponse({ type: OAuth2Provider })
  @ERRORS()
  retrieve(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<unknown> {
    const pk = parseIntegerPk(id, 'OAuth2Provider');
    return this.queryBus.execute(new RetrieveProviderQuery(apiCaller(principal, request), pk));
  }

  @Put(':id')
  @ApiOperation({ operationId: 'providers_oauth2_update', description: DESCRIPTION })
  @ID
  @ApiBody({ type: OAuth2ProviderRequest, required: true })
  @ApiOkResponse({ type: OAuth2Provider })
  @ERRORS()
  async update(
    @Param('id') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<unknown> {
    const caller = apiCaller(principal, request);
    const pk = parseIntegerPk(id, 'OAuth2Provider');
    return (
      await this.commandBus.execute(
        new UpdateProviderCommand(caller, pk, unvalidated<ProviderInput>(body), false),
      )
    ).body;
  }

  @Patch(':id')
  @ApiOperation({ operationId: 'providers_oauth2_partial_update', description: DESCRIPTION })
  @ID
  @ApiBody({ type: PatchedOAuth2ProviderRequest, required: false })
  @ApiOkResponse({ type: OAuth2Provider })
  @ERRORS()
  async partialUpdate(
    @Param('id') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<unknown> {
    const caller = apiCaller(principal, request);
    const pk = parseIntegerPk(id, 'OAuth2Provider');
    return (
      await this.commandBus.execute(
        new UpdateProviderCommand(caller, pk, unvalidated<ProviderInput>(body), true),
      )
    ).body;
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'providers_oauth2_destroy', description: DESCRIPTION })
  @ID
  @ApiNoContentResponse({ description: 'No response body' })
  @ERRORS()
  async destroy(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<void> {
    const pk = parseIntegerPk(id, 'OAuth2Provider');
    await this.commandBus.execute(new DeleteProviderCommand(apiCaller(principal, request), pk));
  }

  @Get(':id/preview_user')
  @ApiOperation({
    operationId: 'providers_oauth2_preview_user_retrieve',
    description: 'Preview user data for provider',
  })
  @ID
  @ApiQuery({ name: 'for_user', required: false, type: 'integer' })
  @ApiOkResponse({ type: PropertyMappingPreview })
  @ApiResponse({ status: 400, description: 'Bad request' })
  @ApiResponse({ status: 403, type: GenericError })
  previewUser(
    // Both read from the request rather than @Param/@Query: Swagger lists reflected parameters before declared ones,
    // and only the declared ones (bottom-up) give authentik's order (for_user, id).
    @Req() raw: FastifyRequest<{ Params: { id: string }; Querystring: RawQuery }>,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<unknown> {
    const pk = parseIntegerPk(raw.params.id, 'OAuth2Provider');
    const forUser = lastValue(raw.query.for_user);
    return this.queryBus.execute(
      new PreviewProviderUserQuery(apiCaller(principal, request), pk, forUser, baseUrl(raw, this.config)),
    );
  }

  @Get(':id/setup_urls')
  @ApiOperation({
    operationId: 'providers_oauth2_setup_urls_retrieve',
    description: 'Get Providers setup URLs',
  })
  @ID
  @ApiOkResponse({ type: OAuth2ProviderSetupURLs })
  @ApiResponse({ status: 404, description: 'Provider has no application assigned' })
  @ERRORS()
  setupUrls(
    @Param('id') id: string,
    @Req() raw: FastifyRequest,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<unknown> {
    const pk = parseIntegerPk(id, 'OAuth2Provider');
    return this.queryBus.execute(
      new ProviderSetupUrlsQuery(apiCaller(principal, request), pk, baseUrl(raw, this.config)),
    );
  }

  // DRF answers other methods on a list URL 405 only to a caller holding the permission they would need (else 403),
  // and on detail URLs 405 to any authenticated caller.
  @Put() @ApiExcludeEndpoint() putList(@Req() r: FastifyRequest, @CurrentPrincipal() p: Principal): never {
    throw listMethodNotAllowed(
      r.method,
      hasPermission(p, PROVIDER_PERMISSION.change),
      'GET, POST, HEAD, OPTIONS',
    );
  }
  @Patch() @ApiExcludeEndpoint() patchList(
    @Req() r: FastifyRequest,
    @CurrentPrincipal() p: Principal,
  ): never {
    throw listMethodNotAllowed(
      r.method,
      hasPermission(p, PROVIDER_PERMISSION.change),
      'GET, POST, HEAD, OPTIONS',
    );
  }
  @Delete() @ApiExcludeEndpoint() deleteList(
    @Req() r: FastifyRequest,
    @CurrentPrincipal() p: Principal,
  ): never {
    throw listMethodNotAllowed(
      r.method,
      hasPermission(p, PROVIDER_PERMISSION.delete),
      'GET, POST, HEAD, OPTIONS',
    );
  }
  @Post(':id') @ApiExcludeEndpoint() postItem(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ITEM_ALLOW);
  }
  @Post(':id/setup_urls') @ApiExcludeEndpoint() postSetup(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ACTION_ALLOW);
  }
  @Put(':id/setup_urls') @ApiExcludeEndpoint() putSetup(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ACTION_ALLOW);
  }
  @Patch(':id/setup_urls') @ApiExcludeEndpoint() patchSetup(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ACTION_ALLOW);
  }
  @Delete(':id/setup_urls') @ApiExcludeEndpoint() deleteSetup(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ACTION_ALLOW);
  }
  @Post(':id/preview_user') @ApiExcludeEndpoint() postPreview(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ACTION_ALLOW);
  }
  @Put(':id/preview_user') @ApiExcludeEndpoint() putPreview(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ACTION_ALLOW);
  }
  @Patch(':id/preview_user') @ApiExcludeEndpoint() patchPreview(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ACTION_ALLOW);
  }
  @Delete(':id/preview_user') @ApiExcludeEndpoint() deletePreview(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, ACTION_ALLOW);
  }
}
