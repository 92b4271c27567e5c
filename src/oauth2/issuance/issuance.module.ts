import { Module } from '@nestjs/common';
import { ApplicationAccess } from './access/application-access';
import { ConsentStore } from './consent/consent-store';
import { JwksController } from './endpoints/jwks.controller';
import { GetJwksHandler } from './endpoints/jwks.query';

/** The provider side of OAuth2/OIDC (authentik's /application/o/ views). So far: JWKS. */
@Module({
  controllers: [JwksController],
  providers: [GetJwksHandler, ConsentStore, ApplicationAccess],
  exports: [ConsentStore, ApplicationAccess],
})
export class IssuanceModule {}
