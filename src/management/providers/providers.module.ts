import { Module } from '@nestjs/common';

/** /api/v3 management routes for providers (issue 13). */
@Module({ controllers: [], providers: [] })
export class ProvidersApiModule {}
