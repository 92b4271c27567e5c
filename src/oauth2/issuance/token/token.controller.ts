import { Controller, Inject, Options, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../../../common/auth/public.decorator';
import { APP_CONFIG, type AppConfig } from '../../../config/config';
import { allowCors, allowOrigin, sendJson, sendTokenError } from '../core/http';
import { TokenError } from '../core/oauth-errors';
import { ExchangeTokenCommand } from './exchange-token.command';
import { readTokenRequest } from './token-request';

/**
 * authentik's TokenView at POST /application/o/token/: one endpoint for every provider, chosen by client_id. Every
 * error is a 400 with `{error, error_description, request_id}`; success is authentik's token body, never cached.
 */
@ApiExcludeController()
@Public()
@Controller()
export class TokenController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post('application/o/token')
  async token(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    try {
      const { client, body } = await this.commandBus.execute(
        new ExchangeTokenCommand(readTokenRequest(request, this.config)),
      );
      allowCors(request, reply, client.provider.redirectUris);
      sendJson(reply, 200, body);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      sendTokenError(reply, request, error);
    }
  }

  /**
   * A browser app's preflight: no client id is known yet, so the Origin is allowed when it is the origin of a strict
   * redirect URI of any provider (the request that follows is then checked against its own provider).
   */
  @Options('application/o/token')
  async preflight(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const origin = request.headers.origin;
    void reply.header('vary', 'Origin');
    if (typeof origin === 'string' && /^https?:\/\/[^/\s]{1,255}$/.test(origin)) {
      const [row] = await this.dataSource.query<{ allowed: boolean }[]>(
        `SELECT EXISTS (SELECT 1 FROM oauth2_providers p, jsonb_array_elements(p.redirect_uris) u
                         WHERE u->>'matching_mode' = 'strict' AND (u->>'url' = $1 OR u->>'url' LIKE $2)) AS allowed`,
        [origin, `${origin.replace(/[\\%_]/g, '\\$&')}/%`],
      );
      if (row?.allowed) allowOrigin(reply, origin);
    }
    sendJson(reply, 200, {});
  }
}
