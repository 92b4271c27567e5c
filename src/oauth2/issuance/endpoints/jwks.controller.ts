import { Controller, Get, HttpStatus, Param, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../../../common/auth/public.decorator';
import { ApiError, DETAIL } from '../../../common/errors/api-error';
import { GetJwksQuery, type JwksBody } from './jwks.query';

/** Outside /api/v3, as authentik mounts its OAuth2 views at /application/o/ (see app.ts's prefix exclusions). */
export const JWKS_ROUTE = 'application/o/:slug/jwks';

/**
 * Public keys change rarely and are public: caches (and RPs' HTTP layers) may keep them a minute. Short, so that a
 * key published ahead of a rotation reaches everyone quickly; authentik sends no Cache-Control here at all.
 */
export const JWKS_CACHE_CONTROL = 'public, max-age=60';

/** authentik's JWKSView: GET /application/o/<slug>/jwks/, public, with `Access-Control-Allow-Origin: *`. */
@ApiExcludeController()
@Public()
@Controller()
export class JwksController {
  constructor(private readonly queryBus: QueryBus) {}

  @Get(JWKS_ROUTE)
  async jwks(
    @Param('slug') slug: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<JwksBody> {
    const body = await this.queryBus.execute(new GetJwksQuery(slug));
    if (body === null) throw new ApiError(HttpStatus.NOT_FOUND, DETAIL.notFound);
    void reply.header('access-control-allow-origin', '*').header('cache-control', JWKS_CACHE_CONTROL);
    return body;
  }
}
