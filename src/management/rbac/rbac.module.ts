import { Module } from '@nestjs/common';
import { PermissionsController, RolesController } from './rbac.controller';
import {
  AssignRolePermissionsHandler,
  CreateRoleHandler,
  DeleteRoleHandler,
  GrantRoleHandler,
  UpdateRoleHandler,
} from './role.commands';
import { ListPermissionsHandler, ListRolesHandler, RetrieveRoleHandler } from './role.queries';

/** /api/v3/rbac/roles/ and /api/v3/rbac/permissions/ (issue 13). */
@Module({
  controllers: [RolesController, PermissionsController],
  providers: [
    ListRolesHandler,
    RetrieveRoleHandler,
    ListPermissionsHandler,
    CreateRoleHandler,
    UpdateRoleHandler,
    DeleteRoleHandler,
    AssignRolePermissionsHandler,
    GrantRoleHandler,
  ],
})
export class RbacModule {}
