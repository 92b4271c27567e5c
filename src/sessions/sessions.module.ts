import { Module } from '@nestjs/common';
import { CsrfTokens } from './csrf';
import { LoginThrottle } from './login-throttle';
import { SessionService } from './session.service';
import { WebController } from './web.controller';

/** People in the browser: sessions, the login and sign-out pages. SessionService is for the authorize endpoint. */
@Module({
  controllers: [WebController],
  providers: [SessionService, LoginThrottle, CsrfTokens],
  exports: [SessionService, CsrfTokens],
})
export class SessionsModule {}
