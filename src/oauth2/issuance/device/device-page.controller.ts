import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../../../common/auth/public.decorator';
import { clientAddress } from '../../../common/http/client-address';
import { CsrfTokens } from '../../../sessions/csrf';
import { messagePage, PAGE_CSP } from '../../../sessions/pages';
import { SessionService } from '../../../sessions/session.service';
import { FORM_EXPIRED } from '../../../sessions/web.controller';
import { formField, queryField } from '../core/http';
import { accessDeniedPage } from '../pages';
import {
  deviceCodePage,
  deviceConfirmPage,
  deviceDonePage,
  INVALID_CODE,
  THROTTLED_CODE,
} from './device-pages';
import { type DeviceDecision, SubmitDeviceCodeCommand } from './submit-device-code.command';
import { sendPage } from '../../../sessions/send-page';

/** authentik's DeviceEntryView path (the verification_uri), listed in OUTSIDE_API_PREFIX and FORM_ROUTES. */
export const DEVICE_PAGE_ROUTE = 'device';

/** Longest `code` carried from the URL into the form or through the login page; longer is no code and is dropped. */
const MAX_CARRIED_CODE = 64;

function carried(code: string | undefined): string | undefined {
  return code !== undefined && code !== '' && code.length <= MAX_CARRIED_CODE ? code : undefined;
}

/** To the login page, which comes back here (with the code, when there was one) after signing in. */
function toLogin(reply: FastifyReply, code: string | undefined): void {
  const here = code === undefined ? '/device' : `/device?code=${encodeURIComponent(code)}`;
  void reply
    .code(303)
    .header('location', `/login/?next=${encodeURIComponent(here)}`)
    .header('content-security-policy', PAGE_CSP)
    .send();
}

/**
 * The page a person types a device's user code into (authentik's DeviceEntryView and, after it, the consent and
 * OAuthDeviceCodeFinishStage of the provider's authorization flow): sign in first, then the code, then Allow or Deny.
 * Every POST carries a CSRF token bound to the session; a missing or wrong one is a 403 page.
 */
@ApiExcludeController()
@Public()
@Controller()
export class DevicePageController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly sessions: SessionService,
    private readonly csrf: CsrfTokens,
  ) {}

  @Get(DEVICE_PAGE_ROUTE)
  async showDeviceEntry(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const code = carried(queryField(request, 'code'));
    const signedIn = await this.sessions.current(request);
    if (!signedIn) return toLogin(reply, code);
    sendPage(
      reply,
      200,
      deviceCodePage({
        csrf: this.csrf.token(signedIn.token, 'device'),
        username: signedIn.user.username,
        code,
      }),
    );
  }

  @Post(DEVICE_PAGE_ROUTE)
  async submitDeviceCode(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const typed = formField(request, 'code');
    const signedIn = await this.sessions.current(request);
    // Signed out meanwhile (or never signed in): sign in, then back to the form with the code.
    if (!signedIn) return toLogin(reply, carried(typed));
    if (!this.csrf.valid(signedIn.token, 'device', formField(request, 'csrf_token'))) {
      return sendPage(
        reply,
        403,
        messagePage('Form expired', FORM_EXPIRED, '/device', 'Back to the device page'),
      );
    }
    const chosen = formField(request, 'decision');
    const decision: DeviceDecision = chosen === 'allow' || chosen === 'deny' ? chosen : undefined;
    const outcome = await this.commandBus.execute(
      new SubmitDeviceCodeCommand(signedIn, clientAddress(request), typed, decision, request.id),
    );
    const csrf = this.csrf.token(signedIn.token, 'device');
    const username = signedIn.user.username;
    switch (outcome.kind) {
      case 'throttled':
        void reply.header('retry-after', String(outcome.retryAfter));
        return sendPage(
          reply,
          429,
          deviceCodePage({ csrf, username, code: carried(typed), error: THROTTLED_CODE }),
        );
      case 'invalid':
        return sendPage(
          reply,
          400,
          deviceCodePage({ csrf, username, code: carried(typed), error: INVALID_CODE }),
        );
      case 'confirm':
        return sendPage(reply, 200, deviceConfirmPage({ csrf, username, ...outcome }));
      case 'forbidden':
        return sendPage(reply, 403, accessDeniedPage({ applicationName: outcome.applicationName }));
      case 'approved':
      case 'denied':
        return sendPage(reply, 200, deviceDonePage(outcome.kind, outcome.applicationName));
    }
  }
}
