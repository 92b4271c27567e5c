import { OrderingQuery, PageQuery, PageSizeQuery, SearchQuery } from '../common/list-openapi';
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
import { methodNotAllowed, permissionDenied } from '../common/errors';
import type { RawQuery } from '../common/filter-params';
import {
  CreateGroupCommand,
  DeleteGroupCommand,
  GroupMembershipCommand,
  UpdateGroupCommand,
} from './group.commands';
import {
  Group,
  GroupRequest,
  PaginatedGroupList,
  PatchedGroupRequest,
  UserAccountRequest,
} from './group.openapi';
import { ListGroupsQuery, type Page, parseIncludes, RetrieveGroupQuery } from './group.queries';
import type { GroupDto } from './group-serializer';

const groupUuid = ApiParam({
  name: 'group_uuid',
  type: String,
  format: 'uuid',
  required: true,
  description: 'A UUID string identifying this Group.',
});
const includes = [
  ApiQuery({
    name: 'include_children',
    required: false,
    type: Boolean,
    schema: { type: 'boolean', default: false },
  }),
  ApiQuery({
    name: 'include_inherited_roles',
    required: false,
    type: Boolean,
    schema: { type: 'boolean', default: false },
  }),
  ApiQuery({
    name: 'include_parents',
    required: false,
    type: Boolean,
    schema: { type: 'boolean', default: false },
  }),
  ApiQuery({
    name: 'include_users',
    required: false,
    type: Boolean,
    schema: { type: 'boolean', default: true },
  }),
];
const errors = [
  ApiResponse({ status: 400, type: ValidationError }),
  ApiResponse({ status: 403, type: GenericError }),
];
const apply =
  (decorators: MethodDecorator[]): MethodDecorator =>
  (target, key, descriptor) => {
    for (const decorator of decorators) decorator(target, key, descriptor);
  };

/** authentik's /api/v3/core/groups/ (GroupViewSet): every operation a command or query on the bus. */
@ApiTags('core')
@ApiSecurity('authentik')
@Controller('core/groups')
export class GroupsController {
  constructor(
    private readonly queryBus: QueryBus,
    private readonly commandBus: CommandBus,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'core_groups_list', description: 'Group Viewset' })
  // Swagger lists decorators bottom-up; this order gives authentik's parameter order.
  @SearchQuery()
  @PageSizeQuery()
  @PageQuery()
  @OrderingQuery()
  @ApiQuery({ name: 'name', required: false, type: String })
  @ApiQuery({ name: 'members_by_username', required: false, type: String, isArray: true })
  @ApiQuery({ name: 'members_by_pk', required: false, type: 'integer', isArray: true })
  @ApiQuery({ name: 'is_superuser', required: false, type: Boolean })
  @apply(includes)
  @ApiQuery({ name: 'attributes', required: false, type: String, description: 'Attributes' })
  @ApiOkResponse({ type: PaginatedGroupList })
  @apply(errors)
  list(
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<Page<GroupDto>> {
    return this.queryBus.execute(new ListGroupsQuery(apiCaller(principal, request), query));
  }

  @Post()
  @ApiOperation({ operationId: 'core_groups_create', description: 'Group Viewset' })
  @ApiBody({ type: GroupRequest, required: true })
  @ApiResponse({ status: 201, type: Group })
  @apply(errors)
  create(
    @Body() body: unknown,
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<GroupDto> {
    return this.commandBus.execute(
      new CreateGroupCommand(apiCaller(principal, request), body, parseIncludes(query)),
    );
  }

  @Get(':group_uuid')
  @ApiOperation({ operationId: 'core_groups_retrieve', description: 'Group Viewset' })
  @apply(includes)
  @groupUuid
  @ApiOkResponse({ type: Group })
  @apply(errors)
  retrieve(
    @Param('group_uuid') id: string,
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<GroupDto> {
    return this.queryBus.execute(new RetrieveGroupQuery(apiCaller(principal, request), id, query));
  }

  @Put(':group_uuid')
  @ApiOperation({ operationId: 'core_groups_update', description: 'Group Viewset' })
  @groupUuid
  @ApiBody({ type: GroupRequest, required: true })
  @ApiOkResponse({ type: Group })
  @apply(errors)
  update(
    @Param('group_uuid') id: string,
    @Body() body: unknown,
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<GroupDto> {
    return this.commandBus.execute(
      new UpdateGroupCommand(apiCaller(principal, request), id, body, false, parseIncludes(query)),
    );
  }

  @Patch(':group_uuid')
  @ApiOperation({ operationId: 'core_groups_partial_update', description: 'Group Viewset' })
  @groupUuid
  @ApiBody({ type: PatchedGroupRequest, required: false })
  @ApiOkResponse({ type: Group })
  @apply(errors)
  partialUpdate(
    @Param('group_uuid') id: string,
    @Body() body: unknown,
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<GroupDto> {
    return this.commandBus.execute(
      new UpdateGroupCommand(apiCaller(principal, request), id, body, true, parseIncludes(query)),
    );
  }

  @Delete(':group_uuid')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'core_groups_destroy', description: 'Group Viewset' })
  @groupUuid
  @ApiNoContentResponse({ description: 'No response body' })
  @apply(errors)
  async destroy(
    @Param('group_uuid') id: string,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<void> {
    await this.commandBus.execute(new DeleteGroupCommand(apiCaller(principal, request), id));
  }

  @Post(':group_uuid/add_user')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'core_groups_add_user_create', description: 'Add user to group' })
  @groupUuid
  @ApiBody({ type: UserAccountRequest, required: true })
  @ApiResponse({ status: 204, description: 'User added' })
  @ApiResponse({ status: 404, description: 'User not found' })
  @apply(errors)
  async addUser(
    @Param('group_uuid') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<void> {
    await this.commandBus.execute(
      new GroupMembershipCommand(apiCaller(principal, request), 'add_user', id, body),
    );
  }

  @Post(':group_uuid/remove_user')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'core_groups_remove_user_create', description: 'Remove user from group' })
  @groupUuid
  @ApiBody({ type: UserAccountRequest, required: true })
  @ApiResponse({ status: 204, description: 'User removed' })
  @ApiResponse({ status: 404, description: 'User not found' })
  @apply(errors)
  async removeUser(
    @Param('group_uuid') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<void> {
    await this.commandBus.execute(
      new GroupMembershipCommand(apiCaller(principal, request), 'remove_user', id, body),
    );
  }

  // PUT/PATCH/DELETE on the list URL: DRF checks change_/delete_ first (403 without), then answers 405.
  @Put() @ApiExcludeEndpoint() putList(@Req() r: FastifyRequest, @CurrentPrincipal() p: Principal): never {
    return listMethod(r, p, 'authentik_core.change_group');
  }
  @Patch() @ApiExcludeEndpoint() patchList(
    @Req() r: FastifyRequest,
    @CurrentPrincipal() p: Principal,
  ): never {
    return listMethod(r, p, 'authentik_core.change_group');
  }
  @Delete() @ApiExcludeEndpoint() deleteList(
    @Req() r: FastifyRequest,
    @CurrentPrincipal() p: Principal,
  ): never {
    return listMethod(r, p, 'authentik_core.delete_group');
  }
  @Post(':group_uuid') @ApiExcludeEndpoint() postItem(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS');
  }
  @Get(':group_uuid/add_user') @ApiExcludeEndpoint() getAddUser(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'POST, OPTIONS');
  }
  @Get(':group_uuid/remove_user') @ApiExcludeEndpoint() getRemoveUser(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'POST, OPTIONS');
  }
}

function listMethod(request: FastifyRequest, principal: Principal, permission: string): never {
  if (!hasPermission(principal, permission)) throw permissionDenied();
  throw methodNotAllowed(request.method, 'GET, POST, HEAD, OPTIONS');
}
