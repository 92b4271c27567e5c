import { Module } from '@nestjs/common';
import { bulkRevokeController } from '../grants/bulk-revoke.controller';
import { grantController } from '../grants/grant.controller';
import { ACCESS_TOKENS } from '../grants/grant-kind';
import { GrantsModule } from '../grants/grants.module';

/** /api/v3/oauth2/access_tokens/ — the controller dispatches to the shared grant queries and commands. */
@Module({
  imports: [GrantsModule],
  controllers: [grantController(ACCESS_TOKENS), bulkRevokeController(ACCESS_TOKENS)],
})
export class AccessTokensModule {}
