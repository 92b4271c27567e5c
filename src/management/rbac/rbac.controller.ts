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
import { GenericError, Role, ValidationError } from '../../oauth2/grants/grant.openapi';
import { methodNotAllowed, permissionDenied } from '../common/errors';
import type { RawQuery } from '../common/filter-params';
import type { Page } from '../groups/group.queries';
import type { PermissionEntry } from './permission-catalogue';
import {
  PaginatedPermissionList,
  PaginatedRoleList,
  PatchedPermissionAssignRequest,
  PatchedRoleRequest,
  PermissionAssignRequest,
  PermissionAssignResult,
  RoleRequest,
} from './rbac.openapi';
import {
  AssignRolePermissionsCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  UpdateRoleCommand,
} from './role.commands';
import { ListPermissionsQuery, ListRolesQuery, RetrieveRoleQuery, type RoleDto } from './role.queries';

const roleUuid = ApiParam({
  name: 'uuid',
  type: String,
  format: 'uuid',
  required: true,
  description: 'A UUID string identifying this Role.',
});
const errors = [
  ApiResponse({ status: 400, type: ValidationError }),
  ApiResponse({ status: 403, type: GenericError }),
];
const apply =
  (decorators: MethodDecorator[]): MethodDecorator =>
  (target, key, descriptor) => {
    for (const decorator of decorators) decorator(target, key, descriptor);
  };
const paging = [OrderingQuery(), PageQuery(), PageSizeQuery()];

function listMethod(request: FastifyRequest, principal: Principal, permission: string, allow: string): never {
  if (!hasPermission(principal, permission)) throw permissionDenied();
  throw methodNotAllowed(request.method, allow);
}

/** authentik's /api/v3/rbac/roles/ (RoleViewSet). */
@ApiTags('rbac')
@ApiSecurity('authentik')
@Controller('rbac/roles')
export class RolesController {
  constructor(
    private readonly queryBus: QueryBus,
    private readonly commandBus: CommandBus,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'rbac_roles_list', description: 'Role viewset' })
  // Swagger lists decorators bottom-up; this order gives authentik's parameter order.
  @ApiQuery({ name: 'users', required: false, type: 'integer' })
  @SearchQuery()
  @apply(paging)
  @ApiQuery({ name: 'name', required: false, type: String })
  @ApiQuery({ name: 'managed__isnull', required: false, type: Boolean })
  @ApiQuery({ name: 'managed', required: false, type: String, isArray: true })
  @ApiQuery({
    name: 'inherited',
    required: false,
    type: Boolean,
    description: 'Include inherited roles (requires users or groups filter)',
  })
  @ApiQuery({ name: 'groups', required: false, type: String, format: 'uuid' })
  @ApiOkResponse({ type: PaginatedRoleList })
  @apply(errors)
  list(
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<Page<RoleDto>> {
    return this.queryBus.execute(new ListRolesQuery(apiCaller(principal, request), query));
  }

  @Post()
  @ApiOperation({ operationId: 'rbac_roles_create', description: 'Role viewset' })
  @ApiBody({ type: RoleRequest, required: true })
  @ApiResponse({ status: 201, type: Role })
  @apply(errors)
  create(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<RoleDto> {
    return this.commandBus.execute(new CreateRoleCommand(apiCaller(principal, request), body));
  }

  @Get(':uuid')
  @ApiOperation({ operationId: 'rbac_roles_retrieve', description: 'Role viewset' })
  @roleUuid
  @ApiOkResponse({ type: Role })
  @apply(errors)
  retrieve(
    @Param('uuid') id: string,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<RoleDto> {
    return this.queryBus.execute(new RetrieveRoleQuery(apiCaller(principal, request), id));
  }

  @Put(':uuid')
  @ApiOperation({ operationId: 'rbac_roles_update', description: 'Role viewset' })
  @roleUuid
  @ApiBody({ type: RoleRequest, required: true })
  @ApiOkResponse({ type: Role })
  @apply(errors)
  update(
    @Param('uuid') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<RoleDto> {
    return this.commandBus.execute(new UpdateRoleCommand(apiCaller(principal, request), id, body, false));
  }

  @Patch(':uuid')
  @ApiOperation({ operationId: 'rbac_roles_partial_update', description: 'Role viewset' })
  @roleUuid
  @ApiBody({ type: PatchedRoleRequest, required: false })
  @ApiOkResponse({ type: Role })
  @apply(errors)
  partialUpdate(
    @Param('uuid') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<RoleDto> {
    return this.commandBus.execute(new UpdateRoleCommand(apiCaller(principal, request), id, body, true));
  }

  @Delete(':uuid')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ operationId: 'rbac_roles_destroy', description: 'Role viewset' })
  @roleUuid
  @ApiNoContentResponse({ description: 'No response body' })
  @apply(errors)
  async destroy(
    @Param('uuid') id: string,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<void> {
    await this.commandBus.execute(new DeleteRoleCommand(apiCaller(principal, request), id));
  }

  @Put() @ApiExcludeEndpoint() putList(@Req() r: FastifyRequest, @CurrentPrincipal() p: Principal): never {
    return listMethod(r, p, 'authentik_rbac.change_role', 'GET, POST, HEAD, OPTIONS');
  }
  @Patch() @ApiExcludeEndpoint() patchList(
    @Req() r: FastifyRequest,
    @CurrentPrincipal() p: Principal,
  ): never {
    return listMethod(r, p, 'authentik_rbac.change_role', 'GET, POST, HEAD, OPTIONS');
  }
  @Delete() @ApiExcludeEndpoint() deleteList(
    @Req() r: FastifyRequest,
    @CurrentPrincipal() p: Principal,
  ): never {
    return listMethod(r, p, 'authentik_rbac.delete_role', 'GET, POST, HEAD, OPTIONS');
  }
  @Post(':uuid') @ApiExcludeEndpoint() postItem(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS');
  }
}

/** authentik's /api/v3/rbac/permissions/ (a read-only catalogue) and the role permission assignment actions. */
@ApiTags('rbac')
@ApiSecurity('authentik')
@Controller('rbac/permissions')
export class PermissionsController {
  constructor(
    private readonly queryBus: QueryBus,
    private readonly commandBus: CommandBus,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'rbac_permissions_list',
    description: 'Read-only list of all permissions, filterable by model and app',
  })
  @SearchQuery()
  @ApiQuery({ name: 'role', required: false, type: String })
  @apply(paging)
  @ApiQuery({ name: 'content_type__model', required: false, type: String })
  @ApiQuery({ name: 'content_type__app_label', required: false, type: String })
  @ApiQuery({ name: 'codename', required: false, type: String })
  @ApiOkResponse({ type: PaginatedPermissionList })
  @apply(errors)
  list(
    @Query() query: RawQuery,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<Page<PermissionEntry>> {
    return this.queryBus.execute(new ListPermissionsQuery(apiCaller(principal, request), query));
  }

  @Post('assigned_by_roles/:uuid/assign')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    operationId: 'rbac_permissions_assigned_by_roles_assign',
    description:
      'Assign permission(s) to role. When `object_pk` is set, the permissions\n' +
      'are only assigned to the specific object, otherwise they are assigned globally.',
  })
  @roleUuid
  @ApiBody({ type: PermissionAssignRequest, required: true })
  @ApiOkResponse({ type: [PermissionAssignResult] })
  @apply(errors)
  assign(
    @Param('uuid') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<{ id: string }[]> {
    return this.commandBus.execute(
      new AssignRolePermissionsCommand(apiCaller(principal, request), 'assign', id, body),
    );
  }

  @Patch('assigned_by_roles/:uuid/unassign')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    operationId: 'rbac_permissions_assigned_by_roles_unassign_partial_update',
    description:
      'Unassign permission(s) to role. When `object_pk` is set, the permissions\n' +
      'are only assigned to the specific object, otherwise they are assigned globally.',
  })
  @roleUuid
  @ApiBody({ type: PatchedPermissionAssignRequest, required: false })
  @ApiResponse({ status: 204, description: 'Successfully unassigned' })
  @apply(errors)
  async unassign(
    @Param('uuid') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @CurrentRequest() request: RequestMeta,
  ): Promise<void> {
    await this.commandBus.execute(
      new AssignRolePermissionsCommand(apiCaller(principal, request), 'unassign', id, body),
    );
  }

  @Post() @ApiExcludeEndpoint() postList(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'GET, HEAD, OPTIONS');
  }
  @Put() @ApiExcludeEndpoint() putList(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'GET, HEAD, OPTIONS');
  }
  @Patch() @ApiExcludeEndpoint() patchList(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'GET, HEAD, OPTIONS');
  }
  @Delete() @ApiExcludeEndpoint() deleteList(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'GET, HEAD, OPTIONS');
  }
  @Get('assigned_by_roles/:uuid/assign') @ApiExcludeEndpoint() getAssign(@Req() r: FastifyRequest): never {
    throw methodNotAllowed(r.method, 'POST, OPTIONS');
  }
  @Patch('assigned_by_roles/:uuid/assign') @ApiExcludeEndpoint() patchAssign(
    @Req() r: FastifyRequest,
  ): never {
    throw methodNotAllowed(r.method, 'POST, OPTIONS');
  }
  @Get('assigned_by_roles/:uuid/unassign') @ApiExcludeEndpoint() getUnassign(
    @Req() r: FastifyRequest,
  ): never {
    throw methodNotAllowed(r.method, 'PATCH, OPTIONS');
  }
  @Post('assigned_by_roles/:uuid/unassign') @ApiExcludeEndpoint() postUnassign(
    @Req() r: FastifyRequest,
  ): never {
    throw methodNotAllowed(r.method, 'PATCH, OPTIONS');
  }
}
