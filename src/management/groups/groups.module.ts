import { Module } from '@nestjs/common';
import {
  CreateGroupHandler,
  DeleteGroupHandler,
  GroupMembershipHandler,
  UpdateGroupHandler,
} from './group.commands';
import { ListGroupsHandler, RetrieveGroupHandler } from './group.queries';
import { GroupsController } from './groups.controller';

/** /api/v3/core/groups/ (issue 13). */
@Module({
  controllers: [GroupsController],
  providers: [
    ListGroupsHandler,
    RetrieveGroupHandler,
    CreateGroupHandler,
    UpdateGroupHandler,
    DeleteGroupHandler,
    GroupMembershipHandler,
  ],
})
export class GroupsModule {}
