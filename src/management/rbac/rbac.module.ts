import { Module } from '@nestjs/common';

/** /api/v3 management routes for rbac (issue 13). */
@Module({ controllers: [], providers: [] })
export class RbacModule {}
