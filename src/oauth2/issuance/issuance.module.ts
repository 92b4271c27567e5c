import { Module } from '@nestjs/common';
import { JwksController } from './endpoints/jwks.controller';
import { GetJwksHandler } from './endpoints/jwks.query';

/** The provider side of OAuth2/OIDC (authentik's /application/o/ views). So far: JWKS. */
@Module({
  controllers: [JwksController],
  providers: [GetJwksHandler],
})
export class IssuanceModule {}
