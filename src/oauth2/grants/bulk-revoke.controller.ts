import { Body, Controller, HttpCode, HttpStatus, Post, type Type } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBody, ApiOkResponse, ApiOperation, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { apiCaller } from '../../common/auth/caller';
import { CurrentPrincipal } from '../../common/auth/current-principal.decorator';
import type { Principal } from '../../common/auth/principal';
import { CurrentRequest, type RequestMeta } from '../../common/http/request-meta';
import { BulkRevokeGrantsCommand, type BulkRevokeResult } from './bulk-revoke';
import {
  GrantBulkRevokeRequest,
  GrantBulkRevokeResult,
  RefreshTokenBulkRevokeRequest,
} from './bulk-revoke.dto';
import type { GrantKind } from './grant-kind';
import { GenericError, ValidationError } from './grant.openapi';
import { MethodsNotAllowed } from './method-not-allowed';

const DESCRIPTION =
  'Grantry extension (issue 14). Revokes (sets `revoked`; the rows stay in the inventory) the grants not yet ' +
  'revoked that match the filters of the JSON body, the same filters as the list, validated strictly (a bad value ' +
  'or an unknown member is a 400 naming it). At least one filter is required. `dry_run: true` answers the exact ' +
  'count and the first pks and writes nothing. A real run revokes in batches (one short transaction each), is ' +
  'idempotent (repeated, it revokes 0), and records one audit event (`model_updated`, `context.bulk_revoke`) with ' +
  'the filters, the count and the caller. Callers without both `authentik_providers_oauth2.view_<model>` and ' +
  '`delete_<model>` act on their own grants only (`own_only`).';

/**
 * `POST /api/v3/oauth2/<type>/bulk_revoke/`. A controller of its own beside grantController: Fastify matches the
 * static `bulk_revoke` segment before the type's `:id` routes, whatever the registration order (tested).
 */
export function bulkRevokeController(kind: GrantKind): Type<unknown> {
  const requestType =
    kind.table === 'oauth2_refresh_tokens' ? RefreshTokenBulkRevokeRequest : GrantBulkRevokeRequest;

  @ApiTags('oauth2')
  @ApiSecurity('authentik')
  @MethodsNotAllowed({
    path: 'bulk_revoke',
    methods: ['GET', 'PUT', 'PATCH', 'DELETE'],
    allow: 'POST, OPTIONS',
  })
  @Controller(kind.path)
  class BulkRevokeController {
    constructor(readonly commandBus: CommandBus) {}

    @Post('bulk_revoke')
    @HttpCode(HttpStatus.OK)
    @ApiOperation({ operationId: `${kind.operationPrefix}_bulk_revoke_create`, description: DESCRIPTION })
    @ApiBody({ type: requestType, required: true })
    @ApiOkResponse({ type: GrantBulkRevokeResult })
    @ApiResponse({ status: 400, type: ValidationError })
    @ApiResponse({ status: 403, type: GenericError })
    bulkRevoke(
      // Object: the global pipe passes the body through; the handler validates it (see BulkRevokeGrantsHandler).
      @Body() body: unknown,
      @CurrentPrincipal() principal: Principal,
      @CurrentRequest() request: RequestMeta,
    ): Promise<BulkRevokeResult> {
      return this.commandBus.execute(new BulkRevokeGrantsCommand(kind, apiCaller(principal, request), body));
    }
  }
  Object.defineProperty(BulkRevokeController, 'name', { value: `${kind.modelName}BulkRevokeController` });
  return BulkRevokeController;
}
