import { Module } from '@nestjs/common';
import { SessionsModule } from '../../sessions/sessions.module';
import { Clients } from './core/clients';
import { TokenIssuer } from './core/token-issuer';
import { DiscoveryController } from './endpoints/discovery.controller';
import { GetDiscoveryHandler } from './endpoints/discovery.query';
import { EndSessionController } from './endpoints/end-session.controller';
import { EndProviderSessionHandler } from './endpoints/end-session.command';
import { IntrospectController } from './endpoints/introspect.controller';
import { IntrospectTokenHandler } from './endpoints/introspect.query';
import { JwksController } from './endpoints/jwks.controller';
import { GetJwksHandler } from './endpoints/jwks.query';
import { RevokeController } from './endpoints/revoke.controller';
import { RevokeTokenHandler } from './endpoints/revoke.command';
import { UserinfoController } from './endpoints/userinfo.controller';
import { GetUserinfoHandler } from './endpoints/userinfo.query';

/** The provider side of OAuth2/OIDC (authentik's /application/o/ views). */
@Module({
  imports: [SessionsModule],
  controllers: [
    JwksController,
    UserinfoController,
    IntrospectController,
    RevokeController,
    DiscoveryController,
    EndSessionController,
  ],
  providers: [
    GetJwksHandler,
    GetUserinfoHandler,
    IntrospectTokenHandler,
    RevokeTokenHandler,
    GetDiscoveryHandler,
    EndProviderSessionHandler,
    Clients,
    TokenIssuer,
  ],
  exports: [Clients, TokenIssuer],
})
export class IssuanceModule {}
