import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { SignedIn } from '../../../sessions/session.service';
import { DeviceApprovals } from './device-approvals';
import { normalizeUserCode } from './device-codes';
import {
  DEVICE_CODE_FAILURE_LIMIT,
  DEVICE_CODE_FAILURE_WINDOW_SECONDS,
  DeviceThrottle,
} from './device-throttle';

/** What the person chose on the confirmation screen; undefined: they typed a code and want to see it first. */
export type DeviceDecision = 'allow' | 'deny' | undefined;

export type DeviceCodeOutcome =
  | { kind: 'throttled'; retryAfter: number }
  | { kind: 'invalid' }
  | { kind: 'confirm'; userCode: string; applicationName: string; scopes: string[] }
  | { kind: 'approved'; applicationName: string }
  | { kind: 'forbidden'; applicationName: string }
  | { kind: 'denied'; applicationName: string };

/** A signed-in person sends a user code from /device, to look at it, allow it or deny it. */
export class SubmitDeviceCodeCommand extends Command<DeviceCodeOutcome> {
  constructor(
    readonly signedIn: SignedIn,
    /** clientAddress(request), for the throttle. */
    readonly address: string,
    /** The code field as sent. */
    readonly typed: string | undefined,
    readonly decision: DeviceDecision,
    readonly requestId: string,
  ) {
    super();
  }
}

/**
 * Every step that names a code is throttled alike (looking, allowing, denying): once an address or a user has sent
 * DEVICE_CODE_FAILURE_LIMIT codes that matched nothing pending within the window, every code is refused until the
 * window ends, a right one included, so the throttle never tells a guesser when to stop. Text that cannot be a code
 * (not nine digits) is refused without counting: it is a typo, not a guess.
 */
@CommandHandler(SubmitDeviceCodeCommand)
export class SubmitDeviceCodeHandler implements ICommandHandler<SubmitDeviceCodeCommand> {
  constructor(
    private readonly approvals: DeviceApprovals,
    private readonly throttle: DeviceThrottle,
  ) {}

  async execute(command: SubmitDeviceCodeCommand): Promise<DeviceCodeOutcome> {
    const buckets = DeviceThrottle.codeBuckets(command.address, command.signedIn.user.id);
    const wait = await this.throttle.blockedFor(buckets, DEVICE_CODE_FAILURE_LIMIT);
    if (wait > 0) return { kind: 'throttled', retryAfter: wait };
    const userCode = normalizeUserCode(command.typed);
    if (userCode === undefined) return { kind: 'invalid' };
    const outcome = await this.decide(command, userCode);
    if (outcome !== undefined) return outcome;
    await this.throttle.recordFailure(buckets, DEVICE_CODE_FAILURE_LIMIT, DEVICE_CODE_FAILURE_WINDOW_SECONDS);
    return { kind: 'invalid' };
  }

  private async decide(
    command: SubmitDeviceCodeCommand,
    userCode: string,
  ): Promise<DeviceCodeOutcome | undefined> {
    const { signedIn, requestId } = command;
    switch (command.decision) {
      case 'allow': {
        const result = await this.approvals.approve(userCode, signedIn, requestId);
        return result.kind === 'not-pending' ? undefined : result;
      }
      case 'deny': {
        const applicationName = await this.approvals.deny(userCode, signedIn, requestId);
        return applicationName === undefined ? undefined : { kind: 'denied', applicationName };
      }
      case undefined: {
        const pending = await this.approvals.pending(userCode);
        if (pending === undefined) return undefined;
        // Told before they choose: a person the application is not open to gets the access-denied page.
        if (!(await this.approvals.allowed(signedIn.user.id, pending.applicationId))) {
          return { kind: 'forbidden', applicationName: pending.applicationName };
        }
        return {
          kind: 'confirm',
          userCode,
          applicationName: pending.applicationName,
          scopes: pending.scopes,
        };
      }
    }
  }
}
