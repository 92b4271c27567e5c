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
      ],
    };
  }
}

/**
 * The management commands' bus, without HTTP: the CLI dispatches the same command objects to the same handlers as
 * the API, so a provider made with `grantry provider create` is validated and recorded exactly like one POSTed to
 * /api/v3/providers/oauth2/. Nest's own start-up messages are silenced (stdout belongs to the command's result).
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

/** The database alone, for a context that needs nothing else of the server's infrastructure. */
@Module({})
class CliDatabaseModule {
  static forRoot(dataSource: DataSource): DynamicModule {
    return {
      module: CliDatabaseModule,
      global: true,
      providers: [{ provide: DataSourceToken, useValue: dataSource }],
      exports: [DataSourceToken],
    };
  }
}

@Module({})
class CliGrantsModule {
  static forRoot(config: AppConfig, dataSource: DataSource): DynamicModule {
    return {
      module: CliGrantsModule,
      imports: [
        ConfigModule.forRoot(config),
        CliDatabaseModule.forRoot(dataSource),
        CqrsModule.forRoot(),
        MetricsModule.counting(),
        GrantOperationsModule,
      ],
    };
  }
}

/**
 * The grant inventory's bulk revocation and export without HTTP (`grants revoke`, `grants export`): the handlers
 * of POST .../bulk_revoke/ and GET .../export/, in a context of their own that needs no SECRET_KEY (they seal
 * nothing), so an operator can act with the database alone. Nest's messages, the handlers' Logger lines included,
 * are silenced: stdout belongs to the command's result, an export's rows included.
 */
export function openGrantsContext(
  config: AppConfig,
  dataSource: DataSource,
): Promise<INestApplicationContext> {
  return NestFactory.createApplicationContext(CliGrantsModule.forRoot(config, dataSource), {
    logger: false,
    abortOnError: false,
  });
}
