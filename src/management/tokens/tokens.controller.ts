import { OrderingQuery, PageQuery, PageSizeQuery, SearchQuery } from '../common/list-openapi';
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
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { GenericError, ValidationError } from '../../oauth2/grants/grant.openapi';
import { methodNotAllowed, permissionDenied } from '../common/errors';
import {
  CreateTokenCommand,
  DeleteTokenCommand,
  SetTokenKeyCommand,
  UpdateTokenCommand,
  ViewTokenKeyCommand,
} from './token.commands';
import {
  INTENT_ENUM,
  PaginatedTokenList,
  PatchedTokenRequest,
  Token,
  TokenRequest,
  TokenSetKeyRequest,
  TokenView,
} from './token.openapi';
import { ListTokensQuery, RetrieveTokenQuery } from './token.queries';
import { nestingFlags, parseTokenListParams, type RawQuery } from './token-reader';

const errors = (): MethodDecorator => (target, key, descriptor) => {
  ApiResponse({ status: 400, type: ValidationError })(target, key, descriptor);
  ApiResponse({ status: 403, type: GenericError })(target, key, descriptor);
};
const identifier = ApiParam({ name: 'identifier', type: String, required: true });
const DESCRIPTION = 'Token Viewset';

/** authentik's `/api/v3/core/tokens/` (core/api/tokens.py:TokenViewSet), each operation a query or command. */
@ApiTags('core')
@ApiSecurity('authentik')
@Controller('core/tokens')
export class TokensController {
  constructor(
    private readonly queryBus: QueryBus,
    private readonly commandBus: CommandBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'core_tokens_list', description: DESCRIPTION })
  // Swagger lists decorators bottom-up; this order gives authentik's parameter order.
  @ApiQuery({ name: 'user__username', required: false, type: String })
  @SearchQuery()
  @PageSizeQuery()
  @PageQuery()
  @OrderingQuery()
  @ApiQuery({ name: 'managed', required: false, type: String })
  @ApiQuery({ name: 'intent', required: false, enum: INTENT_ENUM, enumName: 'IntentEnum' })
  @ApiQuery({ name: 'identifier', required: false, type: String })
  @ApiQuery({ name: 'expiring', required: false, type: Boolean })
  @ApiQuery({ name: 'expires', required: false, type: String, format: 'date-time' })
  @ApiQuery({ name: 'description', required: false, type: String })
  @ApiOkResponse({ type: PaginatedTokenList })
  @errors()
  list(
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<JsonBody> {
    return this.queryBus.execute(
      new ListTokensQuery(apiCaller(principal, request), parseTokenListParams(query, this.config)),
    );
  }

  @Post()
  @ApiOperation({ operationId: 'core_tokens_create', description: DESCRIPTION })
  @ApiCreatedResponse({ type: Token })
  @errors()
  async create(
    @Body() body: TokenRequest,
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<JsonBody> {
    const created = await this.commandBus.execute(
      new CreateTokenCommand(apiCaller(principal, request), body, nestingFlags(query)),
    );
    // The key is not in the response (authentik's client drops it too): view_key/ hands it out, once.
    return created.body;
  }

  @Get(':identifier')
  @ApiOperation({ operationId: 'core_tokens_retrieve', description: DESCRIPTION })
  @identifier
  @ApiOkResponse({ type: Token })
  @errors()
  retrieve(
    @Param('identifier') id: string,
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<JsonBody> {
    return this.queryBus.execute(new RetrieveTokenQuery(apiCaller(principal, request), id, query));
  }

  @Put(':identifier')
  @ApiOperation({ operationId: 'core_tokens_update', description: DESCRIPTION })
  @identifier
  @ApiBody({ type: TokenRequest, required: true })
  @ApiOkResponse({ type: Token })
  @errors()
  update(
    @Param('identifier') id: string,
    // Validated by the command after the lookup and permission check (DRF's order: 404/403 before 400).
    @Body() body: unknown,
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<JsonBody> {
    return this.commandBus.execute(
      new UpdateTokenCommand(apiCaller(principal, request), id, body, false, nestingFlags(query)),
    );
  }

  @Patch(':identifier')
  @ApiOperation({ operationId: 'core_tokens_partial_update', description: DESCRIPTION })
  @identifier
  @ApiBody({ type: PatchedTokenRequest, required: false })
  @ApiOkResponse({ type: Token })
  @errors()
  partialUpdate(
    @Param('identifier') id: string,
    @Body() body: unknown,
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<JsonBody> {
    return this.commandBus.execute(
      new UpdateTokenCommand(apiCaller(principal, request), id, body, true, nestingFlags(query)),
    );
  }

  @Delete(':identifier')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'core_tokens_destroy', description: DESCRIPTION })
  @identifier
  @ApiNoContentResponse({ description: 'No response body' })
  @errors()
  async destroy(
    @Param('identifier') id: string,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<void> {
    await this.commandBus.execute(new DeleteTokenCommand(apiCaller(principal, request), id));
  }

  @Post(':identifier/set_key')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    operationId: 'core_tokens_set_key_create',
    description:
      'Set token key. Action is logged as event. `authentik_core.set_token_key` permission\nis required.',
  })
  @identifier
  @ApiBody({ type: TokenSetKeyRequest, required: true })
  @ApiResponse({ status: 204, description: 'Successfully changed key' })
  @ApiResponse({ status: 400, description: 'Missing key' })
  @ApiResponse({ status: 404, description: 'Token not found or expired' })
  @ApiResponse({ status: 403, type: GenericError })
  async setKey(
    @Param('identifier') id: string,
    // Read as is, not through the DTO pipe: authentik answers a missing or blank key with an empty 400, and only
    // after the permission check.
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<void> {
    const key =
      body !== null && typeof body === 'object' && !Array.isArray(body)
        ? (body as Record<string, unknown>).key
        : undefined;
    // A missing or blank key is authentik's `Response(status=400)`: EmptyBadRequest, no body at all.
    await this.commandBus.execute(new SetTokenKeyCommand(apiCaller(principal, request), id, key));
  }

  @Get(':identifier/view_key')
  @ApiOperation({
    operationId: 'core_tokens_view_key_retrieve',
    description: 'Return token key and log access',
  })
  @identifier
  @ApiOkResponse({ type: TokenView })
  @ApiResponse({ status: 404, description: 'Token not found or expired' })
  @errors()
  viewKey(
    @Param('identifier') id: string,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<{ key: string }> {
    return this.commandBus.execute(new ViewTokenKeyCommand(apiCaller(principal, request), id));
  }

  // PUT/PATCH/DELETE on the list URL: DRF's ObjectPermissions asks for change_/delete_ first, then 405.
  @Put() @ApiExcludeEndpoint() putList(@Req() r: FastifyRequest, @CurrentPrincipal() p: Principal): never {
    return this.listMethod(r, p, 'authentik_core.change_token');
  }
  @Patch() @ApiExcludeEndpoint() patchList(
    @Req() r: FastifyRequest,
    @CurrentPrincipal() p: Principal,
  ): never {
    return this.listMethod(r, p, 'authentik_core.change_token');
  }
  @Delete() @ApiExcludeEndpoint() deleteList(
    @Req() r: FastifyRequest,
    @CurrentPrincipal() p: Principal,
  ): never {
    return this.listMethod(r, p, 'authentik_core.delete_token');
  }
  @Post(':identifier') @ApiExcludeEndpoint() postItem(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS');
  }
  @Get(':identifier/set_key') @ApiExcludeEndpoint() getSetKey(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'POST, OPTIONS');
  }
  @Post(':identifier/view_key') @ApiExcludeEndpoint() postViewKey(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'GET, HEAD, OPTIONS');
  }

  private listMethod(request: FastifyRequest, principal: Principal, permission: string): never {
    if (!hasPermission(principal, permission)) throw permissionDenied();
    throw methodNotAllowed(request.method, 'GET, POST, HEAD, OPTIONS');
  }
}
