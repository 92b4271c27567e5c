import type { EntityManager } from 'typeorm';
import type { Metrics } from '../../../metrics/metrics';

/** What issuance records (audit_events.action, at most 32 characters). */
export type IssuanceAction =
  | 'authorization_granted'
  | 'authorization_denied'
  | 'token_issued'
  | 'code_replayed'
  | 'refresh_token_reused'
  | 'client_auth_failed'
  | 'token_revoked'
  | 'suspicious_request';

export interface IssuanceEvent {
  action: IssuanceAction;
  /** Who acted: the user a grant is for, or null for a client acting on its own (the username then names it). */
  actorUserId: number | null;
  actorUsername: string;
  /** The object's model, named as the inventory's own events name them (AccessToken, RefreshToken...). */
  model: string;
  objectPk: number;
  objectUserId: number | null;
  providerId: number | null;
  /** First 8 hex digits of the secret's SHA-256, to correlate; never the secret. */
  secretHash?: Buffer;
  requestId: string | undefined;
}

export async function recordIssuanceEvent(manager: EntityManager, event: IssuanceEvent): Promise<void> {
  await manager.query(
    `INSERT INTO audit_events (action, actor_user_id, actor_username, model, object_pk, object_user_id,
                               object_provider_id, secret_hash_prefix, request_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      event.action,
      event.actorUserId,
      event.actorUsername.slice(0, 150),
      event.model,
      event.objectPk,
      event.objectUserId,
      event.providerId,
      event.secretHash?.subarray(0, 4).toString('hex') ?? null,
      event.requestId ?? null,
    ],
  );
}

export const MODEL = {
  accessToken: 'AccessToken',
  refreshToken: 'RefreshToken',
  code: 'AuthorizationCode',
  provider: 'OAuth2Provider',
  deviceToken: 'DeviceToken',
} as const;

/**
 * Revokes every access and refresh token of a family (a replayed code, a reused refresh token); answers how many were
 * newly revoked (counted in `metrics` once `manager`'s transaction commits).
 */
export async function revokeFamily(
  manager: EntityManager,
  familyId: string,
  metrics: Metrics,
): Promise<number> {
  const [row] = await manager.query<{ access: number; refresh: number }[]>(
    `WITH a AS (UPDATE oauth2_access_tokens SET revoked = true WHERE family_id = $1 AND NOT revoked RETURNING 1),
          r AS (UPDATE oauth2_refresh_tokens SET revoked = true WHERE family_id = $1 AND NOT revoked RETURNING 1)
     SELECT (SELECT count(*) FROM a)::int AS access, (SELECT count(*) FROM r)::int AS refresh`,
    [familyId],
  );
  const access = row?.access ?? 0;
  const refresh = row?.refresh ?? 0;
  metrics.grantsRevoked('access_token', access, 'family_revoked', manager);
  metrics.grantsRevoked('refresh_token', refresh, 'family_revoked', manager);
  return access + refresh;
}

/** A confidential client presented a wrong or missing secret (token, introspection, revocation alike). */
export async function recordClientAuthFailure(
  manager: EntityManager,
  provider: { id: number; clientId: string },
  requestId: string | undefined,
): Promise<void> {
  await recordIssuanceEvent(manager, {
    action: 'client_auth_failed',
    actorUserId: null,
    actorUsername: provider.clientId,
    model: MODEL.provider,
    objectPk: provider.id,
    objectUserId: null,
    providerId: provider.id,
    requestId,
  });
}
