import { Module } from '@nestjs/common';
import { BulkRevokeGrantsHandler } from './bulk-revoke';
import { GrantCleanup } from './grant-cleanup';
import { GrantCounts } from './grant-counts';
import { grantExportController } from './grant-export.controller';
import { GrantExporter } from './grant-export';
import { ACCESS_TOKENS, AUTHORIZATION_CODES, REFRESH_TOKENS } from './grant-kind';
import { GrantStore } from './grant-store';
import {
  DeleteGrantHandler,
  ExportGrantsHandler,
  GrantUsedByHandler,
  ListGrantsHandler,
  RetrieveGrantHandler,
} from './grant.queries';

/** The read and write path the three grant-type modules share. */
@Module({
  // The export routes (`<type>/export/`) of the three types, here rather than in each type's module.
  controllers: [ACCESS_TOKENS, REFRESH_TOKENS, AUTHORIZATION_CODES].map(grantExportController),
  providers: [
    GrantStore,
    GrantCounts,
    GrantCleanup,
    ListGrantsHandler,
    RetrieveGrantHandler,
    GrantUsedByHandler,
    DeleteGrantHandler,
    BulkRevokeGrantsHandler,
    GrantExporter,
    ExportGrantsHandler,
  ],
  exports: [GrantStore],
})
export class GrantsModule {}
