import { Controller, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../../../common/auth/public.decorator';
import { readClientCredentials } from '../core/clients';
import { formField, sendJson, sendTokenError } from '../core/http';
import { TokenError } from '../core/oauth-errors';
import { RevokeTokenCommand } from './revoke.command';

/**
 * authentik's TokenRevokeView at POST /application/o/revoke/ (RFC 7009): `200 {}` whether or not the token was
 * found; `401 {"error": "invalid_client", ...}` when the client is unknown or a confidential client does not
 * authenticate. Never cached.
 */
@ApiExcludeController()
@Public()
@Controller()
export class RevokeController {
  constructor(private readonly commandBus: CommandBus) {}

  @Post('application/o/revoke')
  async revoke(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    try {
      await this.commandBus.execute(
        new RevokeTokenCommand(readClientCredentials(request), formField(request, 'token'), request.id),
      );
      sendJson(reply, 200, {});
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      sendTokenError(reply, request, error);
    }
  }
}
