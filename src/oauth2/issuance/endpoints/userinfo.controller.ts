import { Controller, Get, Options, Post, Req, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../../../common/auth/public.decorator';
import { allowCors, formField, queryField, sendJson } from '../core/http';
import { BEARER_ERRORS, type BearerErrorCode } from '../core/oauth-errors';
import { GetUserinfoQuery } from './userinfo.query';

export const USERINFO_ROUTE = 'application/o/userinfo';

/** authentik's extract_access_token's header test: `^[Bb]earer\s{1}.+$`, then the second whitespace-separated word. */
const BEARER = /^[Bb]earer\s.+$/;

/**
 * The access token of a userinfo request, as authentik's extract_access_token reads it: the Authorization header
 * (`Bearer` or `bearer`), else the POST form's `access_token`, else the query's `access_token`. A field that is
 * present wins even when empty (the request then has no usable token).
 */
export function readAccessToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string' && BEARER.test(header)) return header.trim().split(/\s+/)[1];
  const fromForm = formField(request, 'access_token');
  if (fromForm !== undefined) return fromForm;
  return queryField(request, 'access_token');
}

/**
 * authentik's protected_resource_view answer: the status of the error, an empty body, and
 * `WWW-Authenticate: error="...", error_description="..."`, without the `Bearer` scheme RFC 6750 would have (as
 * authentik sends it; its clients parse this form).
 */
function sendBearerError(reply: FastifyReply, code: BearerErrorCode): void {
  const { status, description } = BEARER_ERRORS[code];
  void reply
    .code(status)
    .header('www-authenticate', `error="${code}", error_description="${description}"`)
    .send('');
}

/** authentik's UserInfoView: GET and POST /application/o/userinfo/, the same answer for both. */
@ApiExcludeController()
@Public()
@Controller()
export class UserinfoController {
  constructor(private readonly queryBus: QueryBus) {}

  @Get(USERINFO_ROUTE)
  getUserinfo(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.answer(request, reply);
  }

  @Post(USERINFO_ROUTE)
  postUserinfo(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.answer(request, reply);
  }

  /**
   * authentik answers a preflight `{}` and lets any Origin make it (no token is sent with a preflight, so no provider
   * is known); the request that follows gets CORS headers only for its token's provider's redirect origins.
   */
  @Options(USERINFO_ROUTE)
  preflight(@Req() request: FastifyRequest, @Res() reply: FastifyReply): void {
    const origin = request.headers.origin;
    if (typeof origin === 'string') {
      void reply
        .header('access-control-allow-origin', origin)
        .header('vary', 'Origin')
        .header('access-control-allow-credentials', 'true')
        .header('access-control-allow-methods', 'GET, POST, OPTIONS');
      const requested = request.headers['access-control-request-headers'];
      if (typeof requested === 'string') void reply.header('access-control-allow-headers', requested);
    }
    sendJson(reply, 200, {});
  }

  private async answer(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const outcome = await this.queryBus.execute(new GetUserinfoQuery(readAccessToken(request), request.id));
    if ('error' in outcome) return sendBearerError(reply, outcome.error);
    allowCors(request, reply, outcome.redirectUris);
    sendJson(reply, 200, outcome.body);
  }
}
