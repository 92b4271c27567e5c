import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { ConsentMode } from '../../../providers/oauth2-provider.entity';
import type { SignedIn } from '../../../sessions/session.service';
import { ApplicationAccess } from '../access/application-access';
import { ConsentStore } from '../consent/consent-store';
import { MODEL, recordIssuanceEvent } from '../core/audit';
import { scopeSet } from '../core/scopes';

/** A device authorization waiting for a person: what the confirmation page shows. */
export interface PendingDevice {
  id: number;
  providerId: number;
  applicationId: string;
  applicationName: string;
  scopes: string[];
}

/** What an approval came to: the application's name, or why nothing changed. */
export type ApprovalResult =
  | { kind: 'approved'; applicationName: string }
  | { kind: 'forbidden'; applicationName: string }
  | { kind: 'not-pending' };

/**
 * The condition under which a device row can still be approved or denied: nobody has approved it, it has not
 * expired, and its provider serves an application (authentik's validate_code refuses a provider without one).
 */
const PENDING = `d.user_id IS NULL AND d.expires > now()
  AND EXISTS (SELECT 1 FROM applications a WHERE a.provider_id = d.provider_id)`;

/**
 * A person's decision on a device authorization (authentik's OAuthDeviceCodeFinishStage, reached after the
 * provider's authorization flow with its consent stage). Every way a user code is approved or denied goes through
 * this class, and each decision is one statement that only a pending row satisfies, so of two approvals of one code
 * (two tabs, two people) exactly one wins, and a code already approved cannot be approved or denied again.
 *
 * Before anything changes, the person must be allowed to use the application (ApplicationAccess: its group
 * bindings, as at the authorize endpoint); `pending` says so too, so the page can tell them before they choose. An
 * approval stores consent for the provider's consent mode (ConsentStore), in its transaction, so consent is kept
 * only for an approval that took effect; the confirmation screen is shown whatever is stored, as it is where the
 * person compares the code with the device's screen.
 */
@Injectable()
export class DeviceApprovals {
  // Each statement is a WITH ... SELECT: TypeORM answers a bare UPDATE or DELETE as [rows, count], not as rows.
  constructor(
    private readonly dataSource: DataSource,
    private readonly access: ApplicationAccess,
    private readonly consent: ConsentStore,
  ) {}

  /** Whether the user may use the application (its group bindings). */
  allowed(userId: number, applicationId: string, manager?: EntityManager): Promise<boolean> {
    return this.access.allowed(userId, applicationId, manager);
  }

  /** The pending device authorization of this user code, or undefined (unknown, expired, already approved). */
  async pending(userCode: string): Promise<PendingDevice | undefined> {
    const [row] = await this.dataSource.query<
      { id: number; provider_id: number; scope: string; application_id: string; name: string }[]
    >(
      `SELECT d.id, d.provider_id, d.scope, a.id AS application_id, a.name
         FROM oauth2_device_tokens d JOIN applications a ON a.provider_id = d.provider_id
        WHERE d.user_code = $1 AND ${PENDING}`,
      [userCode],
    );
    if (!row) return undefined;
    return {
      id: row.id,
      providerId: row.provider_id,
      applicationId: row.application_id,
      applicationName: row.name,
      scopes: scopeSet(row.scope),
    };
  }

  /**
   * Approves the device authorization of `userCode` for the signed-in user: the row gets the user, the Grantry
   * session (the tokens' `sid`) and the time of sign-in (`auth_time`), and the token endpoint then redeems the device
   * code. Answers the application's name, or undefined when the code is not pending (nothing changes then).
   */
  async approve(userCode: string, signedIn: SignedIn, requestId: string): Promise<ApprovalResult> {
    return this.dataSource.transaction(async (manager) => {
      const [target] = await manager.query<
        { application_id: string; name: string; consent_mode: ConsentMode; consent_expire_in: string }[]
      >(
        `SELECT a.id AS application_id, a.name, p.consent_mode, p.consent_expire_in
           FROM oauth2_device_tokens d JOIN applications a ON a.provider_id = d.provider_id
           JOIN oauth2_providers p ON p.id = d.provider_id
          WHERE d.user_code = $1 AND ${PENDING}`,
        [userCode],
      );
      if (!target) return { kind: 'not-pending' };
      if (!(await this.access.allowed(signedIn.user.id, target.application_id, manager))) {
        return { kind: 'forbidden', applicationName: target.name };
      }
      const [row] = await manager.query<{ id: number; provider_id: number; scope: string }[]>(
        // Through WITH ... SELECT: TypeORM answers a bare UPDATE ... RETURNING as [rows, count].
        `WITH won AS (
           UPDATE oauth2_device_tokens d SET user_id = $2, session_id = $3, auth_time = $4
            WHERE d.user_code = $1 AND ${PENDING}
           RETURNING d.id, d.provider_id, d.scope)
         SELECT id, provider_id, scope FROM won`,
        [userCode, signedIn.user.id, signedIn.session.id, signedIn.session.created],
      );
      if (!row) return { kind: 'not-pending' };
      await this.consent.record(
        {
          userId: signedIn.user.id,
          applicationId: target.application_id,
          scopes: scopeSet(row.scope),
          mode: target.consent_mode,
          expireIn: target.consent_expire_in,
        },
        manager,
      );
      await recordIssuanceEvent(manager, {
        action: 'authorization_granted',
        actorUserId: signedIn.user.id,
        actorUsername: signedIn.user.username,
        model: MODEL.deviceToken,
        objectPk: row.id,
        objectUserId: signedIn.user.id,
        providerId: row.provider_id,
        requestId,
      });
      return { kind: 'approved', applicationName: target.name };
    });
  }

  /**
   * Denies the device authorization of `userCode`: the row is deleted, so the device's next poll gets
   * `invalid_grant` and it stops. Answers the application's name, or undefined when the code is not pending.
   */
  async deny(userCode: string, signedIn: SignedIn, requestId: string): Promise<string | undefined> {
    return this.dataSource.transaction(async (manager) => {
      const [row] = await manager.query<{ id: number; provider_id: number; name: string }[]>(
        `WITH gone AS (
           DELETE FROM oauth2_device_tokens d
            WHERE d.user_code = $1 AND ${PENDING}
           RETURNING d.id, d.provider_id)
         SELECT gone.id, gone.provider_id, a.name FROM gone JOIN applications a ON a.provider_id = gone.provider_id`,
        [userCode],
      );
      if (!row) return undefined;
      await recordIssuanceEvent(manager, {
        action: 'authorization_denied',
        actorUserId: signedIn.user.id,
        actorUsername: signedIn.user.username,
        model: MODEL.deviceToken,
        objectPk: row.id,
        objectUserId: signedIn.user.id,
        providerId: row.provider_id,
        requestId,
      });
      return row.name;
    });
  }
}
