import { Controller, Get, Header, Query, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { stringify } from 'yaml';
import { Public } from '../common/auth/public.decorator';
import { OpenApiDocumentHolder } from './openapi';

/** The OpenAPI document, as authentik serves it: YAML by default, JSON with `?format=json`. Public. */
@ApiExcludeController()
@Public()
@Controller('schema')
export class SchemaController {
  private yaml: string | undefined;

  constructor(private readonly holder: OpenApiDocumentHolder) {}

  @Get()
  @Header('Cache-Control', 'no-store')
  schema(@Query('format') format: string | undefined, @Res() reply: FastifyReply): void {
    const document = this.holder.document;
    if (format === 'json') {
      void reply.type('application/vnd.oai.openapi+json').send(JSON.stringify(document));
      return;
    }
    this.yaml ??= stringify(document, { aliasDuplicateObjects: false });
    void reply.type('application/vnd.oai.openapi; charset=utf-8').send(this.yaml);
  }
}
