import { Controller, Post, Req, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../../../common/auth/public.decorator';
import { readClientCredentials } from '../core/clients';
import { formField, sendJson } from '../core/http';
import { IntrospectTokenQuery } from './introspect.query';

/**
 * authentik's TokenIntrospectionView at POST /application/o/introspect/ (RFC 7662): always 200, `{"active": false}`
 * for anything it will not describe; `token_type_hint` is ignored. Never cached.
 */
@ApiExcludeController()
@Public()
@Controller()
export class IntrospectController {
  constructor(private readonly queryBus: QueryBus) {}

  @Post('application/o/introspect')
  async introspect(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const body = await this.queryBus.execute(
      new IntrospectTokenQuery(readClientCredentials(request), formField(request, 'token'), request.id),
    );
    sendJson(reply, 200, body);
  }
}
