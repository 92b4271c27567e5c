import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { PassportModule } from '@nestjs/passport';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthService } from './common/auth/auth.service';
import { BearerAuthGuard } from './common/auth/bearer-auth.guard';
import { BearerStrategy } from './common/auth/bearer.strategy';
import { APP_CONFIG, type AppConfig } from './config/config';
import { dataSourceOptions } from './database/data-source-options';
import { HealthController } from './health/health.controller';
import { OpenApiDocumentHolder } from './openapi/openapi';
import { SchemaController } from './openapi/schema.controller';
import { WhoAmIController } from './whoami/whoami.controller';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, databaseUrl: string): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CqrsModule.forRoot(),
        PassportModule.register({ session: false }),
        TypeOrmModule.forRoot({
          ...dataSourceOptions({
            url: databaseUrl,
            poolSize: config.dbPoolSize,
            statementTimeoutMs: config.dbStatementTimeoutMs,
            connectTimeoutMs: config.dbConnectTimeoutMs,
            applicationName: 'grantry',
          }),
          retryAttempts: 10,
          retryDelay: 1000,
        }),
      ],
      controllers: [HealthController, SchemaController, WhoAmIController],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        OpenApiDocumentHolder,
        AuthService,
        BearerStrategy,
        { provide: APP_GUARD, useClass: BearerAuthGuard },
      ],
    };
  }
}
