import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { ApiExceptionFilter } from './common/errors/api-exception.filter';
import type { AppConfig } from './config/config';
import { PinoNestLogger } from './logging/logger';
import { API_PREFIX, buildOpenApiDocument, OpenApiDocumentHolder } from './openapi/openapi';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Builds the HTTP application (not listening yet). Shared by main.ts and the e2e tests. */
export async function createApp(
  config: AppConfig,
  databaseUrl: string,
  logger: Logger,
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    // authentik's docs print paths like /api/v3//oauth2/access_tokens/; with or without the trailing slash, and
    // with doubled slashes, a path reaches the same route.
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 200 },
    genReqId: (request: IncomingMessage) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, databaseUrl),
    adapter,
    {
      logger: new PinoNestLogger(logger.child({ component: 'nest' })),
      abortOnError: false,
    },
  );
  app.setGlobalPrefix(API_PREFIX, { exclude: ['-/health/live', '-/health/ready'] });
  app.useGlobalFilters(new ApiExceptionFilter(logger));

  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  await app.init();
  const document = buildOpenApiDocument(app);
  app.get(OpenApiDocumentHolder).document = document;
  SwaggerModule.setup(`${API_PREFIX}/docs`, app, document, {
    raw: false,
    customSiteTitle: 'Grantry API',
    swaggerOptions: { persistAuthorization: false, displayOperationId: true },
  });
  return app;
}
