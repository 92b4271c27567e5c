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
} from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import {
  ApiBody,
  ApiExcludeEndpoint,
  ApiOperation,
  ApiParam,
  ApiQuery,
  type ApiQueryOptions,
  ApiResponse,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import { apiCaller, callerCan } from '../../common/auth/caller';
import { CurrentPrincipal } from '../../common/auth/current-principal.decorator';
import { hasPermission, type Principal } from '../../common/auth/principal';
import { CurrentRequest, type RequestMeta } from '../../common/http/request-meta';
import type { JsonBody } from '../../common/serializers/json-body';
import type { UserDto } from '../../common/serializers/user';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { USER_TYPES } from '../../identity/user.entity';
import { GenericError, User, ValidationError } from '../../oauth2/grants/grant.openapi';
import { parseId, parseSearch, type RawQuery } from '../../oauth2/grants/list-params';
import { methodNotAllowed, permissionDenied } from '../common/errors';
import { parseIncludes, parseUserFilters, parseUserListParams } from './user-list-params';
import {
  CreateUserCommand,
  DeleteUserCommand,
  PERMS,
  SetUserPasswordCommand,
  UpdateUserCommand,
} from './users.commands';
import {
  PaginatedUserList,
  PatchedUserRequest,
  SessionUser,
  UserPasswordSetRequest,
  UserRequest,
} from './users.dto';
import { ListUsersQuery, MeQuery, RetrieveUserQuery, type SessionUserDto } from './users.queries';

const dateTime = { type: 'string', format: 'date-time' } as const;
const uuidList = { type: 'array', items: { type: 'string', format: 'uuid' } } as const;
const stringList = { type: 'array', items: { type: 'string' } } as const;

/** The list's query parameters, in the order of authentik's schema. */
const LIST_PARAMETERS: ApiQueryOptions[] = [
  { name: 'attributes', schema: { type: 'string' }, description: 'Attributes' },
  { name: 'date_joined', schema: dateTime },
  { name: 'date_joined__gt', schema: dateTime },
  { name: 'date_joined__lt', schema: dateTime },
  { name: 'email', schema: { type: 'string' } },
  { name: 'groups_by_name', schema: stringList, explode: true, style: 'form' },
  { name: 'groups_by_pk', schema: uuidList, explode: true, style: 'form' },
  { name: 'include_groups', schema: { type: 'boolean', default: true } },
  { name: 'include_roles', schema: { type: 'boolean', default: true } },
  { name: 'is_active', schema: { type: 'boolean' } },
  { name: 'is_superuser', schema: { type: 'boolean' } },
  { name: 'last_login', schema: dateTime },
  { name: 'last_login__gt', schema: dateTime },
  { name: 'last_login__isnull', schema: { type: 'boolean' } },
  { name: 'last_login__lt', schema: dateTime },
  { name: 'last_updated', schema: dateTime },
  { name: 'last_updated__gt', schema: dateTime },
  { name: 'last_updated__lt', schema: dateTime },
  { name: 'name', schema: { type: 'string' } },
  {
    name: 'ordering',
    schema: { type: 'string' },
    description: 'Which field to use when ordering the results.',
  },
  {
    name: 'page',
    schema: { type: 'integer' },
    description: 'A page number within the paginated result set.',
  },
  { name: 'page_size', schema: { type: 'integer' }, description: 'Number of results to return per page.' },
  { name: 'path', schema: { type: 'string' } },
  { name: 'path_startswith', schema: { type: 'string' } },
  { name: 'roles_by_name', schema: stringList, explode: true, style: 'form' },
  { name: 'roles_by_pk', schema: uuidList, explode: true, style: 'form' },
  { name: 'search', schema: { type: 'string' }, description: 'A search term.' },
  {
    name: 'type',
    schema: { type: 'array', items: { type: 'string', enum: [...USER_TYPES] } },
    explode: true,
    style: 'form',
  },
  { name: 'username', schema: { type: 'string' } },
  { name: 'uuid', schema: { type: 'string', format: 'uuid' } },
];

/** Applied in authentik's order (Swagger keeps the order decorators run in). */
const listParameters = (): MethodDecorator => (target, key, descriptor) => {
  for (const options of LIST_PARAMETERS) {
    ApiQuery({ required: false, ...options })(target, key, descriptor);
  }
};

const errors = (): MethodDecorator => (target, key, descriptor) => {
  ApiResponse({ status: 400, type: ValidationError })(target, key, descriptor);
  ApiResponse({ status: 403, type: GenericError })(target, key, descriptor);
};

const idParam = ApiParam({
  name: 'id',
  type: 'integer',
  required: true,
  description: 'A unique integer value identifying this User.',
});

const LIST_ALLOW = 'GET, POST, HEAD, OPTIONS';
const DETAIL_ALLOW = 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS';
const ME_ALLOW = 'GET, HEAD, OPTIONS';
const SET_PASSWORD_ALLOW = 'POST, OPTIONS';

/** authentik's `/core/users/` (UserViewSet): each route a query or command on the bus, as the CLI dispatches them. */
@ApiTags('core')
@ApiSecurity('authentik')
@Controller('core/users')
export class UsersController {
  constructor(
    private readonly queryBus: QueryBus,
    private readonly commandBus: CommandBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'core_users_list', description: 'User Viewset' })
  @listParameters()
  @ApiResponse({ status: 200, type: PaginatedUserList })
  @errors()
  list(
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<JsonBody> {
    const caller = apiCaller(principal, request);
    // 403 before any parameter is looked at, as authentik's permission check runs before its filters.
    if (!callerCan(caller, PERMS.view)) throw permissionDenied();
    const params = parseUserListParams(query, this.config.pageSizeDefault, this.config.pageSizeMax);
    return this.queryBus.execute(new ListUsersQuery(caller, params));
  }

  @Post()
  @ApiOperation({ operationId: 'core_users_create', description: 'User Viewset' })
  @ApiBody({ type: UserRequest, required: true })
  @ApiResponse({ status: 201, type: User })
  @errors()
  create(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<UserDto> {
    return this.commandBus.execute(new CreateUserCommand(apiCaller(principal, request), body));
  }

  @Get('me')
  @ApiOperation({ operationId: 'core_users_me_retrieve', description: 'Get information about current user' })
  @ApiResponse({ status: 200, type: SessionUser })
  @errors()
  me(@CurrentPrincipal() principal: Principal): Promise<SessionUserDto> {
    return this.queryBus.execute(new MeQuery(principal));
  }

  @Get(':id')
  @ApiOperation({ operationId: 'core_users_retrieve', description: 'User Viewset' })
  @idParam
  @ApiResponse({ status: 200, type: User })
  @errors()
  retrieve(
    @Param('id') raw: string,
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<UserDto> {
    const id = parseId(raw);
    const caller = apiCaller(principal, request);
    if (!callerCan(caller, PERMS.view)) throw permissionDenied();
    return this.queryBus.execute(
      new RetrieveUserQuery(
        caller,
        id,
        parseUserFilters(query),
        parseSearch(query.search),
        parseIncludes(query),
      ),
    );
  }

  @Put(':id')
  @ApiOperation({ operationId: 'core_users_update', description: 'User Viewset' })
  @idParam
  @ApiBody({ type: UserRequest, required: true })
  @ApiResponse({ status: 200, type: User })
  @errors()
  update(
    @Param('id') raw: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<UserDto> {
    return this.commandBus.execute(
      new UpdateUserCommand(apiCaller(principal, request), parseId(raw), body, false),
    );
  }

  @Patch(':id')
  @ApiOperation({ operationId: 'core_users_partial_update', description: 'User Viewset' })
  @idParam
  @ApiBody({ type: PatchedUserRequest, required: false })
  @ApiResponse({ status: 200, type: User })
  @errors()
  partialUpdate(
    @Param('id') raw: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<UserDto> {
    return this.commandBus.execute(
      new UpdateUserCommand(apiCaller(principal, request), parseId(raw), body, true),
    );
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'core_users_destroy', description: 'User Viewset' })
  @idParam
  @ApiResponse({ status: 204, description: 'No response body' })
  @errors()
  async destroy(
    @Param('id') raw: string,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<void> {
    await this.commandBus.execute(new DeleteUserCommand(apiCaller(principal, request), parseId(raw)));
  }

  @Post(':id/set_password')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'core_users_set_password_create', description: 'Set password for user' })
  @idParam
  @ApiBody({ type: UserPasswordSetRequest, required: true })
  @ApiResponse({ status: 204, description: 'Successfully changed password' })
  @ApiResponse({ status: 400, description: 'Bad request' })
  @ApiResponse({ status: 403, type: GenericError })
  async setPassword(
    @Param('id') raw: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<void> {
    // A bad password is authentik's `Response(status=400)`: EmptyBadRequest, no body at all.
    await this.commandBus.execute(
      new SetUserPasswordCommand(apiCaller(principal, request), parseId(raw), body),
    );
  }

  // DRF: PUT/PATCH/DELETE on the list URL need change_/delete_user and are then 405; other methods on a route that
  // does not map them are 405 for anyone authenticated.
  @Put() @ApiExcludeEndpoint() putList(@CurrentPrincipal() principal: Principal): never {
    return listMethod(principal, 'PUT', PERMS.change);
  }
  @Patch() @ApiExcludeEndpoint() patchList(@CurrentPrincipal() principal: Principal): never {
    return listMethod(principal, 'PATCH', PERMS.change);
  }
  @Delete() @ApiExcludeEndpoint() deleteList(@CurrentPrincipal() principal: Principal): never {
    return listMethod(principal, 'DELETE', PERMS.delete);
  }
  @Post('me') @ApiExcludeEndpoint() postMe(): never {
    throw methodNotAllowed('POST', ME_ALLOW);
  }
  @Put('me') @ApiExcludeEndpoint() putMe(): never {
    throw methodNotAllowed('PUT', ME_ALLOW);
  }
  @Patch('me') @ApiExcludeEndpoint() patchMe(): never {
    throw methodNotAllowed('PATCH', ME_ALLOW);
  }
  @Delete('me') @ApiExcludeEndpoint() deleteMe(): never {
    throw methodNotAllowed('DELETE', ME_ALLOW);
  }
  @Post(':id') @ApiExcludeEndpoint() postItem(): never {
    throw methodNotAllowed('POST', DETAIL_ALLOW);
  }
  @Get(':id/set_password') @ApiExcludeEndpoint() getSetPassword(): never {
    throw methodNotAllowed('GET', SET_PASSWORD_ALLOW);
  }
  @Put(':id/set_password') @ApiExcludeEndpoint() putSetPassword(): never {
    throw methodNotAllowed('PUT', SET_PASSWORD_ALLOW);
  }
  @Patch(':id/set_password') @ApiExcludeEndpoint() patchSetPassword(): never {
    throw methodNotAllowed('PATCH', SET_PASSWORD_ALLOW);
  }
  @Delete(':id/set_password') @ApiExcludeEndpoint() deleteSetPassword(): never {
    throw methodNotAllowed('DELETE', SET_PASSWORD_ALLOW);
  }
}

function listMethod(principal: Principal, method: string, permission: string): never {
  if (!hasPermission(principal, permission)) throw permissionDenied();
  throw methodNotAllowed(method, LIST_ALLOW);
}
