import { Module } from '@nestjs/common';
import { SessionsModule } from '../../sessions/sessions.module';
import { Clients } from './core/clients';
import { TokenIssuer } from './core/token-issuer';
import { DeviceApprovals } from './device/device-approvals';
import { DeviceAuthorizationController } from './device/device-authorization.controller';
import { DevicePageController } from './device/device-page.controller';
import { DeviceSweep } from './device/device-sweep';
import { DeviceThrottle } from './device/device-throttle';
import { RequestDeviceAuthorizationHandler } from './device/request-device-authorization.command';
import { SubmitDeviceCodeHandler } from './device/submit-device-code.command';
import { JwksController } from './endpoints/jwks.controller';
import { GetJwksHandler } from './endpoints/jwks.query';

/** The provider side of OAuth2/OIDC (authentik's /application/o/ views). */
@Module({
  imports: [SessionsModule],
  controllers: [JwksController, DeviceAuthorizationController, DevicePageController],
  providers: [
    GetJwksHandler,
    Clients,
    TokenIssuer,
    DeviceApprovals,
    DeviceThrottle,
    DeviceSweep,
    RequestDeviceAuthorizationHandler,
    SubmitDeviceCodeHandler,
  ],
  exports: [Clients, TokenIssuer, DeviceApprovals],
})
export class IssuanceModule {}
