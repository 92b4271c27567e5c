import { Module } from '@nestjs/common';
import { APPLICATION_COMMAND_HANDLERS } from './application.commands';
import { APPLICATION_QUERY_HANDLERS } from './application.queries';
import { ApplicationsController } from './applications.controller';

/** /api/v3/core/applications/ (issue 13); the CLI's `app create` shares the create command. */
@Module({
  controllers: [ApplicationsController],
  providers: [...APPLICATION_COMMAND_HANDLERS, ...APPLICATION_QUERY_HANDLERS],
})
export class ApplicationsModule {}
