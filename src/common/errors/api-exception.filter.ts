import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ApiError, DETAIL, EmptyBadRequest } from './api-error';
import { isCircuitOpen, isDatabaseUnavailable } from './database-errors';

export interface ErrorResponse {
  status: number;
  /** Undefined: no body at all (EmptyBadRequest). */
  body: Record<string, unknown> | undefined;
  headers?: Record<string, string>;
}

/** Maps any thrown value to authentik's error bodies. Unknown errors are logged and answered generically. */
export function toErrorResponse(
  error: unknown,
  method: string,
  log: Logger | undefined,
  requestId?: string,
): ErrorResponse {
  if (error instanceof EmptyBadRequest) return { status: HttpStatus.BAD_REQUEST, body: undefined };
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse();
    const headers = error instanceof ApiError ? error.headers : undefined;
    if (typeof response === 'object' && response !== null && !isNestDefaultBody(response)) {
      return { status, body: response as Record<string, unknown>, headers };
    }
    // Nest maps Fastify's body-parser errors to a plain HttpException; the Fastify error is its cause.
    const cause = (error.cause as { code?: unknown } | undefined)?.code;
    if (cause === 'FST_ERR_CTP_INVALID_JSON_BODY' || cause === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      return { status, body: { detail: 'JSON parse error.' } };
    }
    return { status, body: { detail: defaultDetail(status, method) } };
  }
  if (isDatabaseUnavailable(error)) {
    if (isCircuitOpen(error)) log?.debug({ reqId: requestId }, 'database unavailable (circuit open)');
    else log?.warn({ reqId: requestId, err: summarize(error) }, 'database unavailable');
    return {
      status: HttpStatus.SERVICE_UNAVAILABLE,
      body: { detail: DETAIL.unavailable },
      headers: { 'retry-after': '5' },
    };
  }
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    // Fastify's own client errors (bad body, unsupported media type, header too large...).
    return { status: statusCode, body: { detail: fastifyDetail(statusCode, error) } };
  }
  log?.error({ reqId: requestId, err: summarize(error) }, 'unhandled error');
  return { status: HttpStatus.INTERNAL_SERVER_ERROR, body: { detail: DETAIL.serverError } };
}

/** Nest's built-in exceptions carry `{statusCode, message, error}`; we replace that with authentik's wording. */
function isNestDefaultBody(response: object): boolean {
  return 'statusCode' in response && 'message' in response;
}

function defaultDetail(status: number, method: string): string {
  switch (status) {
    case 401:
      return DETAIL.notAuthenticated;
    case 403:
      return DETAIL.permissionDenied;
    case 404:
      return DETAIL.notFound;
    case 405:
      return DETAIL.methodNotAllowed(method);
    // Nest maps Fastify's own client errors (FST_ERR_CTP_BODY_TOO_LARGE) to an HttpException with a plain message.
    case 413:
      return 'Request body too large.';
    case 429:
      return DETAIL.throttled;
    case 503:
      return DETAIL.unavailable;
    default:
      return status >= 500 ? DETAIL.serverError : 'Bad request.';
  }
}

function fastifyDetail(status: number, error: unknown): string {
  switch (status) {
    case 413:
      return 'Request body too large.';
    case 415:
      return 'Unsupported media type in request.';
    case 431:
      return 'Request header fields too large.';
    default: {
      const code = (error as { code?: unknown }).code;
      return code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
        ? 'JSON parse error.'
        : 'Bad request.';
    }
  }
}

/** Enough to debug without ever including request data (which may hold a key). */
function summarize(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { type: error.name, message: error.message, code, stack: error.stack };
  }
  return { type: typeof error };
}

@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  constructor(private readonly log: Logger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const { status, body, headers } = toErrorResponse(error, request.method, this.log, request.id);
    if (headers) void reply.headers(headers);
    if (body === undefined) void reply.status(status).send();
    else void reply.status(status).type('application/json').send(body);
  }
}
