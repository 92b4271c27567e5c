import { Controller, Get, HttpStatus, Query, Req, Res, type Type } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import {
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiResponse,
  ApiSecurity,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../../common/auth/current-principal.decorator';
import type { Principal } from '../../common/auth/principal';
import { EXPORT_FORMATS, type GrantExport, parseExportFormat } from './grant-export';
import { EXPORT_DESCRIPTION, GrantExportRow } from './grant-export.openapi';
import type { GrantKind } from './grant-kind';
import { GenericError, INCIDENT_FILTER_QUERIES, ValidationError } from './grant.openapi';
import { ExportGrantsQuery } from './grant.queries';
import { MethodsNotAllowed } from './method-not-allowed';
import { parseFilters, parseSearch, type RawQuery } from './list-params';

/**
 * `<type>/export/` of one grant type (a Grantry extension). Its own controller beside grantController's: Fastify
 * matches the static `export` segment before `:id` whatever the registration order.
 */
export function grantExportController(kind: GrantKind): Type<unknown> {
  // Documented exactly as on the list (one copy: grant.openapi.ts); parseFilters reads them.
  const incidentFilters = INCIDENT_FILTER_QUERIES.map((options) => ApiQuery(options));
  const withIncidentFilters = (): MethodDecorator => (target, key, descriptor) => {
    for (const decorator of incidentFilters) decorator(target, key, descriptor);
  };

  @ApiTags('oauth2')
  @ApiSecurity('authentik')
  @ApiExtraModels(GrantExportRow)
  @MethodsNotAllowed({
    path: 'export',
    methods: ['POST', 'PUT', 'PATCH', 'DELETE'],
    allow: 'GET, HEAD, OPTIONS',
  })
  @Controller(kind.path)
  class GrantExportController {
    constructor(readonly queryBus: QueryBus) {}

    @Get('export')
    @ApiOperation({ operationId: `${kind.operationPrefix}_export`, description: EXPORT_DESCRIPTION })
    @withIncidentFilters()
    @ApiQuery({ name: 'user', required: false, type: 'integer' })
    @ApiQuery({ name: 'search', required: false, type: String, description: 'A search term.' })
    @ApiQuery({ name: 'provider', required: false, type: 'integer' })
    @ApiQuery({ name: 'format', required: false, enum: EXPORT_FORMATS, description: 'Default: ndjson.' })
    @ApiOkResponse({
      description: 'The grants, streamed as an attachment.',
      content: {
        'application/x-ndjson': { schema: { $ref: getSchemaPath(GrantExportRow) } },
        'text/csv': { schema: { type: 'string' } },
      },
    })
    @ApiResponse({ status: 400, type: ValidationError })
    @ApiResponse({ status: 403, type: GenericError })
    async export(
      @Query() query: RawQuery,
      @CurrentPrincipal() principal: Principal,
      @Req() request: FastifyRequest,
      @Res() reply: FastifyReply,
    ): Promise<void> {
      const format = parseExportFormat(query);
      const result = await this.queryBus.execute<ExportGrantsQuery, GrantExport>(
        new ExportGrantsQuery(kind, principal, parseFilters(query), parseSearch(query.search), format),
      );
      // Not Nest's StreamableFile: it ends the response normally when the stream fails after the headers were
      // sent, which makes a truncated export look complete. Fastify destroys the socket instead.
      reply
        .status(HttpStatus.OK)
        .header('content-type', result.contentType)
        .header('content-disposition', `attachment; filename="${result.filename}"`)
        .header('cache-control', 'no-store');
      // Fastify answers HEAD by draining the GET's stream: the whole export, read for nothing.
      if (request.method === 'HEAD') {
        result.stream.destroy();
        await reply.send();
        return;
      }
      await reply.send(result.stream);
    }
  }
  Object.defineProperty(GrantExportController, 'name', { value: `${kind.modelName}ExportController` });
  return GrantExportController;
}
