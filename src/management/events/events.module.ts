import { Module } from '@nestjs/common';

/** /api/v3 management routes for events (issue 13). */
@Module({ controllers: [], providers: [] })
export class EventsModule {}
