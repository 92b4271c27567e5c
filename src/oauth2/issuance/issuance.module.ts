import { Module } from '@nestjs/common';
import { SessionsModule } from '../../sessions/sessions.module';
import { ApplicationAccess } from './access/application-access';
import { AuthorizeController } from './authorize/authorize.controller';
import { FulfillAuthorizationHandler } from './authorize/fulfill-authorization.command';
import { ConsentStore } from './consent/consent-store';
import { Clients } from './core/clients';
import { TokenIssuer } from './core/token-issuer';
import { DeviceApprovals } from './device/device-approvals';
import { DeviceAuthorizationController } from './device/device-authorization.controller';
import { DevicePageController } from './device/device-page.controller';
import { DeviceSweep } from './device/device-sweep';
import { DeviceThrottle } from './device/device-throttle';
import { RequestDeviceAuthorizationHandler } from './device/request-device-authorization.command';
import { SubmitDeviceCodeHandler } from './device/submit-device-code.command';
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
import { ExchangeTokenHandler } from './token/exchange-token.command';
import { TokenController } from './token/token.controller';

/** The provider side of OAuth2/OIDC (authentik's /application/o/ views). */
@Module({
  imports: [SessionsModule],
  controllers: [
    JwksController,
    TokenController,
    AuthorizeController,
    UserinfoController,
    IntrospectController,
    RevokeController,
    DiscoveryController,
    EndSessionController,
    DeviceAuthorizationController,
    DevicePageController,
  ],
  providers: [
    GetJwksHandler,
    Clients,
    TokenIssuer,
    ExchangeTokenHandler,
    FulfillAuthorizationHandler,
    ConsentStore,
    ApplicationAccess,
    GetUserinfoHandler,
    IntrospectTokenHandler,
    RevokeTokenHandler,
    GetDiscoveryHandler,
    EndProviderSessionHandler,
    DeviceApprovals,
    DeviceThrottle,
    DeviceSweep,
    RequestDeviceAuthorizationHandler,
    SubmitDeviceCodeHandler,
  ],
  exports: [Clients, TokenIssuer, ConsentStore, ApplicationAccess, DeviceApprovals],
})
export class IssuanceModule {}
