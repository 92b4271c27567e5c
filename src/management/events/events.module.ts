import { Module } from '@nestjs/common';
import { CreateEventHandler } from './event.commands';
import { ListEventsHandler, RetrieveEventHandler } from './event.queries';
import { EventReader } from './event-reader';
import { EventsController } from './events.controller';

/** /api/v3/events/events/ (issue 13). */
@Module({
  controllers: [EventsController],
  providers: [EventReader, ListEventsHandler, RetrieveEventHandler, CreateEventHandler],
})
export class EventsModule {}
