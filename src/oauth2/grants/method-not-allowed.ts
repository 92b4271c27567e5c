import { Delete, Get, HttpStatus, Patch, Post, Put, Req } from '@nestjs/common';
import { ApiExcludeEndpoint } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiError, DETAIL } from '../../common/errors/api-error';

type RefusedMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

const ROUTE: Record<RefusedMethod, (path?: string) => MethodDecorator> = {
  GET: Get,
  POST: Post,
  PUT: Put,
  PATCH: Patch,
  DELETE: Delete,
};

/**
 * Class decorator: `methods` on `path` (relative to the controller's, the controller's own when absent) answer DRF's
 * 405, `{"detail": "Method \"PUT\" not allowed."}` with the `Allow` header `allow`, after authentication (they are
 * ordinary routes behind the global guard, as DRF checks authentication before the method), and are left out of the
 * OpenAPI document. A route of its own rather than Fastify's 404 for an unrouted method: authentik answers 405.
 * One handler per method, added to the controller's prototype as if written there.
 */
export function MethodsNotAllowed(options: {
  path?: string;
  methods: readonly RefusedMethod[];
  allow: string;
}): ClassDecorator {
  return (target) => {
    const prototype = target.prototype as object;
    for (const method of options.methods) {
      const name = `${method.toLowerCase()}NotAllowed:${options.path ?? ''}`;
      if (Object.prototype.hasOwnProperty.call(prototype, name)) {
        throw new Error(`${target.name}: ${method} ${options.path ?? '/'} is refused twice`);
      }
      // A function per route: Nest keeps a route's metadata on its handler function.
      const handler = (request: FastifyRequest): never => {
        throw new ApiError(HttpStatus.METHOD_NOT_ALLOWED, DETAIL.methodNotAllowed(request.method), {
          allow: options.allow,
        });
      };
      Object.defineProperty(prototype, name, { value: handler, writable: true, configurable: true });
      const descriptor = Object.getOwnPropertyDescriptor(prototype, name) as PropertyDescriptor;
      Req()(prototype, name, 0);
      ROUTE[method](options.path)(prototype, name, descriptor);
      ApiExcludeEndpoint()(prototype, name, descriptor);
    }
  };
}
