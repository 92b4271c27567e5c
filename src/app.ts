import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { DETAIL } from './common/errors/api-error';
import { ApiExceptionFilter } from './common/errors/api-exception.filter';
import { trustedProxyCheck } from './common/http/client-address';
import { corsHook } from './common/http/cors';
import { bodyLimitHook, clientErrorHandler, frameworkErrorHandler } from './common/http/request-limits';
import { responseHeadersHook } from './common/http/response-headers';
import { serializeReply } from './common/serializers/json-body';
import type { AppConfig } from './config/config';
import { StartupState } from './health/startup-state';
import { couldBeKey, PinoNestLogger } from './logging/logger';
import { httpMetricsHook } from './metrics/http-metrics';
import { Metrics } from './metrics/metrics';
import { API_PREFIX, buildOpenApiDocument, OpenApiDocumentHolder } from './openapi/openapi';
import { OUTSIDE_API_PREFIX, readsForm, readsJson } from './common/http/outside-api';
import { BodyValidationPipe, MALFORMED_JSON } from './common/validation/body-validation.pipe';

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
    // with doubled slashes, a path reaches the same route. A path parameter may be as long as the longest lookup
    // value (a token identifier: 255 characters).
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 255 },
    genReqId: (request: IncomingMessage) => {
      const incoming = request.headers['x-request-id'];
      // A client's id is echoed, logged and stored with audit events, so one that could be a key (a client that
      // put its key in the wrong header) is replaced rather than kept.
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) && !couldBeKey(incoming)
        ? incoming
        : randomUUID();
    },
    bodyLimit: config.maxBodyBytes,
    http: { maxHeaderSize: config.maxHeaderBytes },
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler,
    // X-Forwarded-For is believed only from the listed peers; the client is the right-most untrusted hop (read it
    // through clientAddress, which also validates it).
    trustProxy: config.trustedProxies.length > 0 ? trustedProxyCheck(config.trustedProxies) : false,
    // Requests arriving on kept-alive connections while closing get authentik's 503, from the hook below (Fastify's
    // own would be in its shape).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, databaseUrl, logger),
    adapter,
    {
      logger: new PinoNestLogger(logger.child({ component: 'nest' })),
      abortOnError: false,
      bodyParser: false, // bodies are read only where a route needs one; see the content-type parsers below
    },
  );
  app.setGlobalPrefix(API_PREFIX, {
    exclude: [...OUTSIDE_API_PREFIX],
  });
  app.useGlobalFilters(new ApiExceptionFilter(logger));
  // The one validation pipe: every DTO-bound request body, with authentik's 400 bodies.
  app.useGlobalPipes(new BodyValidationPipe());

  const fastify = app.getHttpAdapter().getInstance();
  // Lists and retrieves answer a JsonBody (text already serialized); everything else is JSON.stringify'd as before.
  // (Fastify's type says a serializer returns a string; its onSend sends a string or a Buffer alike.)
  fastify.setReplySerializer(serializeReply as (payload: unknown) => string);
  // An `Expect` other than 100-continue: Node would answer 417 with no body by itself. authentik's servers ignore
  // the header and serve the request, and so does Grantry.
  fastify.server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    fastify.server.emit('request', request, response);
  });
  // Only the routes listed in outside-api.ts read a request body (authentik's token API has none to read). Whatever a
  // client sends with a DELETE or a GET, in any content type or none, is read up to MAX_BODY_BYTES and ignored, as Django ignores a body no view
  // looks at: a stray `Content-Type: application/json` with an empty or broken body must not turn a DELETE into 400.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));
  // The browser forms and the OAuth2 endpoints are the exception: their bodies are read, as forms, within
  // MAX_BODY_BYTES (see FORM_ROUTES).
  fastify.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (request, body, done) =>
      done(null, readsForm(request.routeOptions.url) ? new URLSearchParams(body as string) : undefined),
  );
  // The management API's writes read JSON (readsJson), within MAX_BODY_BYTES, with Fastify's parser (which refuses
  // __proto__ and constructor.prototype keys). An empty body is no data, as DRF treats it. A body that does not parse
  // is handed on as MALFORMED_JSON and answered 400 only once the handler reads it (after authentication and the
  // permission check), as DRF parses lazily.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (!readsJson(request.method, request.routeOptions.url) || body === '') return done(null, undefined);
    void parseJson(request, body as string, (error, parsed) => done(null, error ? MALFORMED_JSON : parsed));
  });
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done();
    void reply
      .code(503)
      .header('connection', 'close')
      .header('retry-after', '5')
      .type('application/json')
      .send({ detail: DETAIL.unavailable });
  });
  // With RUN_MIGRATIONS=false the server listens before the deploy's `grantry migrate` has run (see main.ts): until
  // start-up has bootstrapped, everything but the health and metrics endpoints answers what an unavailable database
  // does, not a 500 from a table that is not there yet.
  const startup = app.get(StartupState);
  fastify.addHook('onRequest', (request, reply, done) => {
    if (startup.bootstrapped || request.url.startsWith('/-/')) return done();
    void reply
      .code(503)
      .header('retry-after', '5')
      .type('application/json')
      .send({ detail: DETAIL.unavailable });
  });
  // A request in flight when closing began is answered, and its connection closed once it is idle: kept alive, the
  // idle connection would hold the server's close (Node closes only the connections idle when close is called) until
  // SHUTDOWN_TIMEOUT_MS ran out and the process exited 1. Closed when idle rather than by `Connection: close` on the
  // answer, so that a request the client already pipelined behind it gets the 503 above instead of a dropped socket.
  fastify.addHook('onResponse', (_request, _reply, done) => {
    if (closing) setImmediate(() => fastify.server.closeIdleConnections());
    done();
  });
  fastify.addHook('onRequest', bodyLimitHook(config.maxBodyBytes));
  if (config.corsOrigins.length > 0) fastify.addHook('onRequest', corsHook(config.corsOrigins));
  fastify.addHook('onSend', responseHeadersHook(`/${API_PREFIX}/docs`));
  if (config.metricsToken !== undefined) fastify.addHook('onResponse', httpMetricsHook(app.get(Metrics)));
  await app.init();
  const document = buildOpenApiDocument(app);
  app.get(OpenApiDocumentHolder).document = document;
  SwaggerModule.setup(`${API_PREFIX}/docs`, app, document, {
    raw: false,
    customSiteTitle: 'Grantry API',
    // No validator badge: it would load an image from validator.swagger.io, which the page's CSP forbids.
    swaggerOptions: { persistAuthorization: false, displayOperationId: true, validatorUrl: null },
  });
  return app;
}
