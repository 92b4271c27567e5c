import { Module } from '@nestjs/common';

/** /api/v3 management routes for groups (issue 13). */
@Module({ controllers: [], providers: [] })
export class GroupsModule {}
