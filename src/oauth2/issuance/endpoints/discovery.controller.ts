import { Controller, Get, HttpStatus, Inject, Param, Req, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../../../common/auth/public.decorator';
import { ApiError, DETAIL } from '../../../common/errors/api-error';
import { APP_CONFIG, type AppConfig } from '../../../config/config';
import { APPLICATION_SLUG } from '../../../providers/providers';
import { baseUrl } from '../core/http';
import { GetDiscoveryQuery } from './discovery.query';

/**
 * The shared endpoints below /application/o/ that have no GET: a GET there reaches the `<slug>` route, and is answered
 * as authentik's views answer a method they lack (405), not redirected to a document that cannot exist.
 */
const POST_ONLY_ENDPOINTS = new Set(['token', 'device', 'introspect', 'revoke']);

/** Where an application's OpenID Provider metadata is, below the base URL. */
export function discoveryPath(slug: string): string {
  return `/application/o/${slug}/.well-known/openid-configuration`;
}

/**
 * authentik's ProviderInfoView, at the OpenID Connect Discovery path and at RFC 8414's
 * `/.well-known/oauth-authorization-server/<issuer path>`, and the redirect from `/application/o/<slug>/` to it.
 */
@ApiExcludeController()
@Public()
@Controller()
export class DiscoveryController {
  constructor(
    private readonly queryBus: QueryBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('application/o/:slug/.well-known/openid-configuration')
  openidConfiguration(
    @Param('slug') slug: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.answer(slug, request, reply);
  }

  @Get('.well-known/oauth-authorization-server/application/o/:slug')
  authorizationServerMetadata(
    @Param('slug') slug: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.answer(slug, request, reply);
  }

  /**
   * authentik's provider-root RedirectView: a 302 to the discovery document, for any slug (the document answers 404
   * when there is no such application). Relative to the server, as Django's reverse() makes it, under PUBLIC_URL's
   * path when it has one; never built from the Host header.
   */
  @Get('application/o/:slug')
  providerRoot(@Param('slug') slug: string, @Res() reply: FastifyReply): void {
    if (!APPLICATION_SLUG.test(slug)) throw new ApiError(HttpStatus.NOT_FOUND, DETAIL.notFound);
    if (POST_ONLY_ENDPOINTS.has(slug)) {
      throw new ApiError(HttpStatus.METHOD_NOT_ALLOWED, DETAIL.methodNotAllowed('GET'), {
        allow: 'POST, OPTIONS',
      });
    }
    const prefix = this.config.publicUrl === undefined ? '' : new URL(this.config.publicUrl).pathname;
    void reply
      .code(302)
      .header('location', `${prefix.replace(/\/$/, '')}${discoveryPath(slug)}`)
      .send('');
  }

  private async answer(slug: string, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const body = await this.queryBus.execute(new GetDiscoveryQuery(slug, baseUrl(request, this.config)));
    if (body === null) throw new ApiError(HttpStatus.NOT_FOUND, DETAIL.notFound);
    // Public metadata, read by browser apps too (authentik echoes the Origins of the redirect URIs; any origin may
    // read this document, which holds no secret).
    void reply
      .header('access-control-allow-origin', '*')
      .type('application/json')
      // authentik's JsonResponse(..., json_dumps_params={"indent": 2}).
      .send(JSON.stringify(body, null, 2));
  }
}
