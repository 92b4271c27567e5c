import { Module } from '@nestjs/common';
import { SessionsModule } from '../../sessions/sessions.module';
import { Clients } from './core/clients';
import { TokenIssuer } from './core/token-issuer';
import { JwksController } from './endpoints/jwks.controller';
import { GetJwksHandler } from './endpoints/jwks.query';

/** The provider side of OAuth2/OIDC (authentik's /application/o/ views). */
@Module({
  imports: [SessionsModule],
  controllers: [JwksController],
  providers: [GetJwksHandler, Clients, TokenIssuer],
  exports: [Clients, TokenIssuer],
})
export class IssuanceModule {}
