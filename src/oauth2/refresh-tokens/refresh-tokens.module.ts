import { Module } from '@nestjs/common';
import { bulkRevokeController } from '../grants/bulk-revoke.controller';
import { grantController } from '../grants/grant.controller';
import { REFRESH_TOKENS } from '../grants/grant-kind';
import { GrantsModule } from '../grants/grants.module';

/** /api/v3/oauth2/refresh_tokens/ — the controller dispatches to the shared grant queries and commands. */
@Module({
  imports: [GrantsModule],
  controllers: [grantController(REFRESH_TOKENS), bulkRevokeController(REFRESH_TOKENS)],
})
export class RefreshTokensModule {}
