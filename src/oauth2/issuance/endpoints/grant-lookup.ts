import type { EntityManager } from 'typeorm';
import { DEFAULT_ACR, ID_TOKEN_CLAIM_ORDER } from '../../../common/serializers/id-token';

/** An access or refresh token row found by the SHA-256 of a presented value. */
export interface FoundGrant {
  kind: 'access' | 'refresh';
  id: number;
  userId: number;
  scope: string;
  revoked: boolean;
  /** authentik's is_expired: an expiring grant whose `expires` has passed. */
  expired: boolean;
  idToken: Record<string, unknown>;
}

/**
 * The access token, else the refresh token, of `providerId` whose value hashes to `tokenHash` (authentik's
 * introspection and revocation look the value up as an access token first). One round trip; the token_hash indexes
 * are unique per table.
 */
export async function findGrant(
  manager: EntityManager,
  tokenHash: Buffer,
  providerId: number,
): Promise<FoundGrant | undefined> {
  // By the hash's unique index, then the provider: with "token_hash = $1 AND provider_id = $2" the planner may
  // take the (provider_id, expires, id) index for a provider that had few rows at the last ANALYZE and scan all its
  // grants (npm run bench, issue: introspection and code exchange on the full data set; EXPLAIN showed it).
  const rows = await manager.query<
    {
      kind: 'access' | 'refresh';
      id: number;
      user_id: number;
      scope: string;
      revoked: boolean;
      expired: boolean;
      id_token: Record<string, unknown> | null;
    }[]
  >(
    `SELECT * FROM (
       SELECT 'access' AS kind, id, user_id, scope, revoked,
              COALESCE(expiring AND expires < now(), false) AS expired, id_token
         FROM oauth2_access_tokens
        WHERE id = (SELECT id FROM oauth2_access_tokens WHERE token_hash = $1) AND provider_id = $2
       UNION ALL
       SELECT 'refresh', id, user_id, scope, revoked,
              COALESCE(expiring AND expires < now(), false), id_token
         FROM oauth2_refresh_tokens
        WHERE id = (SELECT id FROM oauth2_refresh_tokens WHERE token_hash = $1) AND provider_id = $2) g
     ORDER BY kind LIMIT 1`,
    [tokenHash, providerId],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    kind: row.kind,
    id: row.id,
    userId: row.user_id,
    scope: row.scope,
    revoked: row.revoked,
    expired: row.expired,
    idToken: row.id_token ?? {},
  };
}

/** authentik's `token.scope`: the stored scope split on whitespace. */
export function scopeList(scope: string): string[] {
  return scope.split(/\s+/).filter((token) => token !== '');
}

/**
 * authentik's IDToken.to_dict(): the stored claims with null values dropped, the IDToken fields first (in the
 * dataclass's order, `acr` defaulting to authentik's), then the scope claims.
 */
export function idTokenDict(claims: Record<string, unknown>): Record<string, unknown> {
  // No prototype: a stored claim named __proto__ stays a claim.
  const out = Object.create(null) as Record<string, unknown>;
  for (const key of ID_TOKEN_CLAIM_ORDER) {
    const value = key === 'acr' ? (claims.acr ?? DEFAULT_ACR) : claims[key];
    if (value !== null && value !== undefined) out[key] = value;
  }
  for (const [key, value] of Object.entries(claims)) {
    if (!Object.hasOwn(out, key) && value !== null && value !== undefined) out[key] = value;
  }
  return out;
}
