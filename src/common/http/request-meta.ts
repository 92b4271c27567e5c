import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { clientAddress } from './client-address';

/**
 * What authentik records of the request behind an event (`context.http_request`) plus the client address. Never the
 * body or the headers beyond the user agent: those may hold secrets.
 */
export interface RequestMeta {
  path: string;
  method: string;
  /** The query string's parameters, last value per key (as authentik's `args`). */
  args: Record<string, string>;
  userAgent: string;
  requestId: string;
  clientIp: string;
}

export function requestMeta(request: FastifyRequest): RequestMeta {
  const url = request.url;
  const query = url.indexOf('?');
  const args: Record<string, string> = {};
  if (query >= 0) for (const [key, value] of new URLSearchParams(url.slice(query + 1))) args[key] = value;
  const agent = request.headers['user-agent'];
  return {
    path: query >= 0 ? url.slice(0, query) : url,
    method: request.method,
    args,
    userAgent: typeof agent === 'string' ? agent.slice(0, 512) : '',
    requestId: request.id,
    clientIp: clientAddress(request),
  };
}

/** The current request's RequestMeta, for commands that record events. */
export const CurrentRequest = createParamDecorator((_data: unknown, context: ExecutionContext): RequestMeta =>
  requestMeta(context.switchToHttp().getRequest<FastifyRequest>()),
);
