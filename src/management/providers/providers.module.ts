import { Module } from '@nestjs/common';
import { PROVIDER_COMMAND_HANDLERS } from './provider.commands';
import { PROVIDER_QUERY_HANDLERS } from './provider.queries';
import { ProvidersController } from './providers.controller';

/** /api/v3/providers/oauth2/ (issue 13); the CLI's `provider create` and `provider rotate-secret` share the commands. */
@Module({
  controllers: [ProvidersController],
  providers: [...PROVIDER_COMMAND_HANDLERS, ...PROVIDER_QUERY_HANDLERS],
})
export class ProvidersApiModule {}
