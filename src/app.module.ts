import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AUTH_FAILURE_THROTTLE } from './common/auth/auth-throttle';
import type { Logger } from 'pino';
import { AuthService } from './common/auth/auth.service';
import { BearerAuthGuard } from './common/auth/bearer-auth.guard';
import type { AppConfig } from './config/config';
import { ConfigModule } from './config/config.module';
import { dataSourceOptions } from './database/data-source-options';
import { AccessTokensModule } from './oauth2/access-tokens/access-tokens.module';
import { AuthorizationCodesModule } from './oauth2/authorization-codes/authorization-codes.module';
import { IssuanceModule } from './oauth2/issuance/issuance.module';
import { KeysModule } from './keys/keys.module';
import { ManagementModule } from './management/management.module';
import { MetricsModule } from './metrics/metrics.module';
import { RefreshTokensModule } from './oauth2/refresh-tokens/refresh-tokens.module';
import { HealthController } from './health/health.controller';
import { StartupState } from './health/startup-state';
import { OpenApiDocumentHolder } from './openapi/openapi';
import { SchemaController } from './openapi/schema.controller';
import { SessionsModule } from './sessions/sessions.module';
import { WhoAmIController } from './whoami/whoami.controller';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, databaseUrl: string, logger?: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        MetricsModule.forServer(config),
        KeysModule,
        CqrsModule.forRoot(),
        TypeOrmModule.forRoot({
          ...dataSourceOptions({
            url: databaseUrl,
            poolSize: config.dbPoolSize,
            statementTimeoutMs: config.dbStatementTimeoutMs,
            connectTimeoutMs: config.dbConnectTimeoutMs,
            applicationName: 'grantry',
            breaker: {
              probeIntervalMs: config.dbProbeIntervalMs,
              log: logger?.child({ component: 'database' }),
            },
          }),
          retryAttempts: 10,
          retryDelay: 1000,
        }),
        AccessTokensModule,
        RefreshTokensModule,
        AuthorizationCodesModule,
        IssuanceModule,
        SessionsModule,
        ManagementModule,
      ],
      controllers: [HealthController, SchemaController, WhoAmIController],
      providers: [
        StartupState,
        OpenApiDocumentHolder,
        AuthService,
        AUTH_FAILURE_THROTTLE,
        { provide: APP_GUARD, useClass: BearerAuthGuard },
      ],
    };
  }
}
