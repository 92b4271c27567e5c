import { type DynamicModule, type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import type { DataSource } from 'typeorm';
import { DataSource as DataSourceToken } from 'typeorm';
import type { AppConfig } from '../config/config';
import { ConfigModule } from '../config/config.module';
import { Sealer } from '../keys/sealing';
import { ManagementModule } from '../management/management.module';
import { MetricsModule } from '../metrics/metrics.module';
import { GrantOperationsModule } from '../oauth2/grants/grant-operations.module';

/** What the server gets from TypeORM and KeysModule, given by the CLI from its own open database and key. */
@Module({})
class CliInfrastructureModule {
  static forRoot(dataSource: DataSource, sealer: Sealer): DynamicModule {
    return {
      module: CliInfrastructureModule,
      global: true,
      providers: [
        { provide: DataSourceToken, useValue: dataSource },
        { provide: Sealer, useValue: sealer },
      ],
      exports: [DataSourceToken, Sealer],
    };
  }
}

@Module({})
class CliModule {
  static forRoot(config: AppConfig, dataSource: DataSource, sealer: Sealer): DynamicModule {
    return {
      module: CliModule,
      imports: [
        ConfigModule.forRoot(config),
        CliInfrastructureModule.forRoot(dataSource, sealer),
        CqrsModule.forRoot(),
        MetricsModule.counting(),
        ManagementModule,
        GrantOperationsModule,
      ],
    };
  }
}

/**
 * The management commands' bus, without HTTP: the CLI dispatches the same command objects to the same handlers as
 * the API, so a provider made with `grantry provider create` is validated and recorded exactly like one POSTed to
 * /api/v3/providers/oauth2/, and `grantry grants revoke` runs bulk_revoke's handler. Nest's own messages (start-up,
 * and the handlers' Logger lines) are silenced: stdout belongs to the command's result, an export's rows included.
 */
export function openManagementContext(
  config: AppConfig,
  dataSource: DataSource,
  sealer: Sealer,
): Promise<INestApplicationContext> {
  return NestFactory.createApplicationContext(CliModule.forRoot(config, dataSource, sealer), {
    logger: false,
    abortOnError: false,
  });
}
