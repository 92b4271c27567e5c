import { Controller, Inject, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../../../common/auth/public.decorator';
import { clientAddress } from '../../../common/http/client-address';
import { APP_CONFIG, type AppConfig } from '../../../config/config';
import { readClientCredentials } from '../core/clients';
import { baseUrl, formField, sendJson, sendTokenError } from '../core/http';
import { TokenError } from '../core/oauth-errors';
import { RequestDeviceAuthorizationCommand } from './request-device-authorization.command';

/** authentik's path (listed in OUTSIDE_API_PREFIX and FORM_ROUTES). */
export const DEVICE_AUTHORIZATION_ROUTE = 'application/o/device';

/**
 * authentik's DeviceView: POST /application/o/device/ (RFC 8628 device authorization), a form body, no bearer key.
 * Answers authentik's TokenResponse (200, no-store) or its error body with the request id.
 */
@ApiExcludeController()
@Public()
@Controller()
export class DeviceAuthorizationController {
  constructor(
    private readonly commandBus: CommandBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post(DEVICE_AUTHORIZATION_ROUTE)
  async requestDeviceAuthorization(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    try {
      const body = await this.commandBus.execute(
        new RequestDeviceAuthorizationCommand(
          readClientCredentials(request).clientId,
          formField(request, 'scope'),
          clientAddress(request),
          baseUrl(request, this.config),
        ),
      );
      sendJson(reply, 200, body);
    } catch (error) {
      if (error instanceof TokenError) return sendTokenError(reply, request, error);
      throw error;
    }
  }
}
