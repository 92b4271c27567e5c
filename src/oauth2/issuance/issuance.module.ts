import { Module } from '@nestjs/common';
import { SessionsModule } from '../../sessions/sessions.module';
import { Clients } from './core/clients';
import { TokenIssuer } from './core/token-issuer';
import { AuthorizeController } from './authorize/authorize.controller';
import { FulfillAuthorizationHandler } from './authorize/fulfill-authorization.command';
import { ApplicationAccess } from './access/application-access';
import { ConsentStore } from './consent/consent-store';
import { JwksController } from './endpoints/jwks.controller';
import { ExchangeTokenHandler } from './token/exchange-token.command';
import { TokenController } from './token/token.controller';
import { GetJwksHandler } from './endpoints/jwks.query';

/** The provider side of OAuth2/OIDC (authentik's /application/o/ views). */
@Module({
  imports: [SessionsModule],
  controllers: [JwksController, TokenController, AuthorizeController],
  providers: [
    GetJwksHandler,
    Clients,
    TokenIssuer,
    ExchangeTokenHandler,
    FulfillAuthorizationHandler,
    ConsentStore,
    ApplicationAccess,
  ],
  exports: [Clients, TokenIssuer, ConsentStore, ApplicationAccess],
})
export class IssuanceModule {}
