import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Principal } from './principal';

export const PRINCIPAL = 'principal';

export type AuthenticatedRequest = FastifyRequest & { [PRINCIPAL]?: Principal };

export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal => {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const principal = request[PRINCIPAL];
    if (!principal) throw new Error('CurrentPrincipal used on a route without authentication');
    return principal;
  },
);
