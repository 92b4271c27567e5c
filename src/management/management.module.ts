import { Module } from '@nestjs/common';
import { ApplicationsModule } from './applications/applications.module';
import { EventsModule } from './events/events.module';
import { GroupsModule } from './groups/groups.module';
import { ProvidersApiModule } from './providers/providers.module';
import { RbacModule } from './rbac/rbac.module';
import { TokensModule } from './tokens/tokens.module';
import { UsersModule } from './users/users.module';

/**
 * authentik's management API for every object Grantry stores. Controllers dispatch commands and queries on the bus;
 * the CLI dispatches the same commands (src/cli/bus.ts), so both validate alike and both leave events. Handlers
 * depend on DataSource and Sealer only, which the app (TypeORM, KeysModule) and the CLI provide alike.
 */
@Module({
  imports: [
    UsersModule,
    GroupsModule,
    RbacModule,
    ProvidersApiModule,
    ApplicationsModule,
    TokensModule,
    EventsModule,
  ],
})
export class ManagementModule {}
