import { Module } from '@nestjs/common';

/** /api/v3 management routes for applications (issue 13). */
@Module({ controllers: [], providers: [] })
export class ApplicationsModule {}
