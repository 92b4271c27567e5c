import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { sha256 } from '../crypto/secrets';
import type { Principal } from './principal';
import { preparedQuery } from '../../database/prepared';

interface PrincipalRow {
  id: number;
  username: string;
  email: string;
  is_active: boolean;
  via: Principal['via'];
  is_superuser: boolean;
  permissions: string[];
}

/**
 * Resolves a presented key to a principal in one round trip: the credential (API token with intent `api`, or an
 * OAuth2 access token carrying the `goauthentik.io/api` scope), the user, superuser status through the group tree,
 * and the permissions of every role held directly or through any group or ancestor group.
 */
const PRINCIPAL_SQL = `
WITH RECURSIVE credential AS (
  (SELECT t.user_id, 'api_token' AS via
     FROM api_tokens t
    WHERE t.key_hash = $1 AND t.intent = 'api' AND (NOT t.expiring OR t.expires > now()))
  UNION ALL
  (SELECT a.user_id, 'oauth2_access_token' AS via
     FROM oauth2_access_tokens a
    WHERE a.token_hash = $1 AND NOT a.revoked AND (NOT a.expiring OR a.expires > now())
      AND 'goauthentik.io/api' = ANY (string_to_array(a.scope, ' ')))
  LIMIT 1
),
member_of (id) AS (
  SELECT ug.group_id FROM user_groups ug JOIN credential c ON ug.user_id = c.user_id
  UNION
  SELECT g.parent_id FROM groups g JOIN member_of m ON g.id = m.id WHERE g.parent_id IS NOT NULL
)
SELECT u.id, u.username, u.email, u.is_active, c.via,
       EXISTS (SELECT 1 FROM groups g JOIN member_of m ON g.id = m.id WHERE g.is_superuser) AS is_superuser,
       ARRAY(
         SELECT DISTINCT p FROM (
           SELECT unnest(r.permissions) AS p FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id
           UNION ALL
           SELECT unnest(r.permissions) FROM group_roles gr JOIN member_of m ON gr.group_id = m.id JOIN roles r ON r.id = gr.role_id
         ) granted
       ) AS permissions
  FROM credential c JOIN users u ON u.id = c.user_id`;

@Injectable()
export class AuthService {
  constructor(private readonly dataSource: DataSource) {}

  /** The principal for a key, or null when the key is unknown, expired, of the wrong intent, or its user inactive. */
  async authenticate(key: string): Promise<Principal | null> {
    const rows = await preparedQuery<PrincipalRow>(this.dataSource, 'grantry_principal', PRINCIPAL_SQL, [
      sha256(key),
    ]);
    const row = rows[0];
    if (!row || !row.is_active) return null;
    return {
      userId: row.id,
      username: row.username,
      email: row.email,
      isSuperuser: row.is_superuser,
      permissions: new Set(row.permissions),
      via: row.via,
    };
  }
}
