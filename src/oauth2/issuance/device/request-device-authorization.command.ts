import { randomUUID } from 'node:crypto';
import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { sha256 } from '../../../common/crypto/secrets';
import { APP_CONFIG, type AppConfig } from '../../../config/config';
import { parseTimedelta } from '../../../providers/timedelta';
import { Clients } from '../core/clients';
import { TokenError } from '../core/oauth-errors';
import { grantableScopes, scopeSet } from '../core/scopes';
import { generateDeviceCode, generateUserCode } from './device-codes';
import { DEVICE_REQUEST_WINDOW_SECONDS, DeviceThrottle } from './device-throttle';

/** authentik's DeviceView answer (RFC 8628 §3.2). */
export interface DeviceAuthorizationBody {
  device_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  user_code: string;
  expires_in: number;
  interval: number;
}

/** authentik's fixed polling interval, in seconds. */
export const DEVICE_POLL_INTERVAL = 5;

/**
 * Tries at a fresh user code. A clash means another live (or not yet swept) authorization holds those nine digits;
 * with a billion codes and the request throttle, even the second try is rare.
 */
const USER_CODE_ATTEMPTS = 10;

/** A device asks to be authorized (POST /application/o/device/). */
export class RequestDeviceAuthorizationCommand extends Command<DeviceAuthorizationBody> {
  constructor(
    /** From Basic or the form (readClientCredentials); the secret is not checked, as in authentik. */
    readonly clientId: string,
    readonly scope: string | undefined,
    /** clientAddress(request), for the throttle. */
    readonly address: string,
    /** baseUrl(request, config), for the verification URIs. */
    readonly base: string,
  ) {
    super();
  }
}

/**
 * authentik's DeviceView: throttled per address first (a refused request learns nothing about the client), then the
 * client must exist and serve an application; the row stores the device code's SHA-256 only, and a user code that
 * no other row holds (the unique index decides: ON CONFLICT, then another code).
 */
@CommandHandler(RequestDeviceAuthorizationCommand)
export class RequestDeviceAuthorizationHandler implements ICommandHandler<RequestDeviceAuthorizationCommand> {
  /** Where user codes come from; the e2e suite swaps it to force a clash, which chance would not give it. */
  drawUserCode: () => string = generateUserCode;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clients: Clients,
    private readonly throttle: DeviceThrottle,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async execute(command: RequestDeviceAuthorizationCommand): Promise<DeviceAuthorizationBody> {
    const wait = await this.throttle.hit(
      DeviceThrottle.requestBuckets(command.address),
      this.config.deviceRequestLimit,
      DEVICE_REQUEST_WINDOW_SECONDS,
    );
    if (wait > 0) throw new TokenError('slow_down', 429, { 'retry-after': String(wait) });
    const client = await this.clients.find(command.clientId);
    if (!client?.application) throw new TokenError('invalid_client');
    const validityMs = parseTimedelta(client.provider.accessCodeValidity, 'access code validity');
    const scope = grantableScopes(scopeSet(command.scope)).join(' ');
    const deviceCode = generateDeviceCode();
    const familyId = randomUUID();
    for (let attempt = 0; attempt < USER_CODE_ATTEMPTS; attempt += 1) {
      const userCode = this.drawUserCode();
      const inserted = await this.dataSource.query<{ id: number }[]>(
        `INSERT INTO oauth2_device_tokens (provider_id, device_code_hash, user_code, scope, expires, family_id)
         VALUES ($1, $2, $3, $4, now() + $5::float8 * interval '1 millisecond', $6)
         ON CONFLICT (user_code) DO NOTHING
         RETURNING id`,
        [client.provider.id, sha256(deviceCode), userCode, scope, validityMs, familyId],
      );
      if (inserted.length === 0) continue;
      const verificationUri = `${command.base}/device`;
      return {
        device_code: deviceCode,
        verification_uri: verificationUri,
        verification_uri_complete: `${verificationUri}?code=${userCode}`,
        user_code: userCode,
        // Python's int(timedelta.total_seconds()): whole seconds, rounded toward zero.
        expires_in: Math.trunc(validityMs / 1000),
        interval: DEVICE_POLL_INTERVAL,
      };
    }
    throw new Error(`no free user code in ${USER_CODE_ATTEMPTS} attempts`);
  }
}
