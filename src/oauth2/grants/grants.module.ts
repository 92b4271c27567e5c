import { Module } from '@nestjs/common';
import { GrantCleanup } from './grant-cleanup';
import { GrantCounts } from './grant-counts';
import { grantExportController } from './grant-export.controller';
import { ACCESS_TOKENS, AUTHORIZATION_CODES, REFRESH_TOKENS } from './grant-kind';
import { GrantOperationsModule } from './grant-operations.module';
import {
  DeleteGrantHandler,
  GrantUsedByHandler,
  ListGrantsHandler,
  RetrieveGrantHandler,
} from './grant.queries';

/** The read and write path the three grant-type modules share. */
@Module({
  imports: [GrantOperationsModule],
  // The export routes (`<type>/export/`) of the three types, here rather than in each type's module.
  controllers: [ACCESS_TOKENS, REFRESH_TOKENS, AUTHORIZATION_CODES].map(grantExportController),
  providers: [
    GrantCounts,
    GrantCleanup,
    ListGrantsHandler,
    RetrieveGrantHandler,
    GrantUsedByHandler,
    DeleteGrantHandler,
  ],
  exports: [GrantOperationsModule],
})
export class GrantsModule {}
