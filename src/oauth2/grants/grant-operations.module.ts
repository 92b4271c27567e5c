import { Module } from '@nestjs/common';
import { BulkRevokeGrantsHandler } from './bulk-revoke';
import { GrantExporter } from './grant-export';
import { GrantStore } from './grant-store';
import { ExportGrantsHandler } from './grant.queries';

/**
 * The incident operations the server and the CLI share: the store, bulk revocation and the export, without the
 * routes and without the background cleanup (the CLI's `grants cleanup` runs it by hand). The server has them through
 * GrantsModule; the CLI's bus (src/cli/bus.ts) imports this module alone, so `grants revoke` and `grants export` run
 * the same handlers as POST .../bulk_revoke/ and GET .../export/.
 */
@Module({
  providers: [GrantStore, BulkRevokeGrantsHandler, GrantExporter, ExportGrantsHandler],
  exports: [GrantStore, GrantExporter],
})
export class GrantOperationsModule {}
