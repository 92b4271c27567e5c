import { Module } from '@nestjs/common';
import { UserStore } from './user-store';
import {
  CreateUserHandler,
  DeleteUserHandler,
  SetUserPasswordHandler,
  UpdateUserHandler,
} from './users.commands';
import { UsersController } from './users.controller';
import { ListUsersHandler, MeHandler, RetrieveUserHandler } from './users.queries';

/** /api/v3/core/users/ (issue 13): authentik's UserViewSet; the CLI's `user` commands dispatch the same commands. */
@Module({
  controllers: [UsersController],
  providers: [
    UserStore,
    ListUsersHandler,
    RetrieveUserHandler,
    MeHandler,
    CreateUserHandler,
    UpdateUserHandler,
    DeleteUserHandler,
    SetUserPasswordHandler,
  ],
})
export class UsersModule {}
