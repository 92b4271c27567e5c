import { Module } from '@nestjs/common';
import { BulkRevokeGrantsHandler } from './bulk-revoke';
import { GrantCleanup } from './grant-cleanup';
import { GrantCounts } from './grant-counts';
import { GrantStore } from './grant-store';
import {
  DeleteGrantHandler,
  GrantUsedByHandler,
  ListGrantsHandler,
  RetrieveGrantHandler,
} from './grant.queries';

/** The read and write path the three grant-type modules share. */
@Module({
  providers: [
    GrantStore,
    GrantCounts,
    GrantCleanup,
    ListGrantsHandler,
    RetrieveGrantHandler,
    GrantUsedByHandler,
    DeleteGrantHandler,
    BulkRevokeGrantsHandler,
  ],
  exports: [GrantStore],
})
export class GrantsModule {}
