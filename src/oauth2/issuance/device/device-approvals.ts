import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SignedIn } from '../../../sessions/session.service';
import { MODEL, recordIssuanceEvent } from '../core/audit';
import { scopeSet } from '../core/scopes';

/** A device authorization waiting for a person: what the confirmation page shows. */
export interface PendingDevice {
  id: number;
  providerId: number;
  applicationName: string;
  scopes: string[];
}

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
 * Not done here yet, and where it goes (what authentik's authorization flow does before its finish stage):
 * - the application-access check (authentik's policy engine; Grantry's ApplicationAccess.allowed(userId,
 *   applicationId, manager), src/oauth2/issuance/access/) belongs in `approve`'s transaction before the UPDATE, and
 *   in `pending` (which then needs the application's id, and the page an access-denied answer), so that a person
 *   without access is told before they choose. Until then any active user can approve a device for any application;
 * - storing consent (ConsentStore.record, src/oauth2/issuance/consent/, for the provider's consent mode) belongs
 *   inside `approve`'s transaction after the row is won, so that consent is stored only for an approval that took
 *   effect. (authentik's flow skips its consent stage when consent is stored; the confirmation here should stay even
 *   then, as it is where the person compares the code with the device's screen.)
 */
@Injectable()
export class DeviceApprovals {
  // Each statement is a WITH ... SELECT: TypeORM answers a bare UPDATE or DELETE as [rows, count], not as rows.
  constructor(private readonly dataSource: DataSource) {}

  /** The pending device authorization of this user code, or undefined (unknown, expired, already approved). */
  async pending(userCode: string): Promise<PendingDevice | undefined> {
    const [row] = await this.dataSource.query<
      { id: number; provider_id: number; scope: string; name: string }[]
    >(
      `SELECT d.id, d.provider_id, d.scope, a.name
         FROM oauth2_device_tokens d JOIN applications a ON a.provider_id = d.provider_id
        WHERE d.user_code = $1 AND ${PENDING}`,
      [userCode],
    );
    if (!row) return undefined;
    return {
      id: row.id,
      providerId: row.provider_id,
      applicationName: row.name,
      scopes: scopeSet(row.scope),
    };
  }

  /**
   * Approves the device authorization of `userCode` for the signed-in user: the row gets the user, the Grantry
   * session (the tokens' `sid`) and the time of sign-in (`auth_time`), and the token endpoint then redeems the device
   * code. Answers the application's name, or undefined when the code is not pending (nothing changes then).
   */
  async approve(userCode: string, signedIn: SignedIn, requestId: string): Promise<string | undefined> {
    return this.dataSource.transaction(async (manager) => {
      const [row] = await manager.query<{ id: number; provider_id: number; name: string }[]>(
        `WITH won AS (
           UPDATE oauth2_device_tokens d SET user_id = $2, session_id = $3, auth_time = $4
            WHERE d.user_code = $1 AND ${PENDING}
           RETURNING d.id, d.provider_id)
         SELECT won.id, won.provider_id, a.name FROM won JOIN applications a ON a.provider_id = won.provider_id`,
        [userCode, signedIn.user.id, signedIn.session.id, signedIn.session.created],
      );
      if (!row) return undefined;
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
      return row.name;
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
