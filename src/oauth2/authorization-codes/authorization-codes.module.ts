import { Module } from '@nestjs/common';
import { bulkRevokeController } from '../grants/bulk-revoke.controller';
import { grantController } from '../grants/grant.controller';
import { AUTHORIZATION_CODES } from '../grants/grant-kind';
import { GrantsModule } from '../grants/grants.module';

/** /api/v3/oauth2/authorization_codes/ — the controller dispatches to the shared grant queries and commands. */
@Module({
  imports: [GrantsModule],
  controllers: [grantController(AUTHORIZATION_CODES), bulkRevokeController(AUTHORIZATION_CODES)],
})
export class AuthorizationCodesModule {}
