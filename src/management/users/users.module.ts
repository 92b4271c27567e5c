import { Module } from '@nestjs/common';

/** /api/v3 management routes for users (issue 13). */
@Module({ controllers: [], providers: [] })
export class UsersModule {}
