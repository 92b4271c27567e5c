import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { sha256 } from '../../../common/crypto/secrets';
import type { RedirectUri } from '../../../providers/oauth2-provider.entity';
import { MODEL, recordIssuanceEvent } from '../core/audit';
import type { BearerErrorCode } from '../core/oauth-errors';
import { SCOPE_OPENID, scopeClaims } from '../core/scopes';
import { TokenIssuer } from '../core/token-issuer';
import { scopeList } from './grant-lookup';

export type UserinfoOutcome =
  { error: BearerErrorCode } | { body: Record<string, unknown>; redirectUris: RedirectUri[] };

/**
 * authentik's UserInfoView behind protected_resource_view(["openid"]): the claims of the user an access token was
 * issued to, by the token's scopes, evaluated now. A query with one side effect: a revoked token that is still
 * presented is recorded as a suspicious request.
 */
export class GetUserinfoQuery extends Query<UserinfoOutcome> {
  constructor(
    /** The presented access token; undefined or empty when none was sent. */
    readonly token: string | undefined,
    readonly requestId: string,
  ) {
    super();
  }
}

@QueryHandler(GetUserinfoQuery)
export class GetUserinfoHandler implements IQueryHandler<GetUserinfoQuery> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly issuer: TokenIssuer,
  ) {}

  async execute(query: GetUserinfoQuery): Promise<UserinfoOutcome> {
    if (query.token === undefined || query.token === '') return { error: 'invalid_token' };
    const tokenHash = sha256(query.token);
    const [row] = await this.dataSource.query<
      {
        id: number;
        user_id: number;
        provider_id: number;
        scope: string;
        revoked: boolean;
        expired: boolean;
        sub: unknown;
        nonce: unknown;
        username: string;
        is_active: boolean;
        redirect_uris: RedirectUri[];
      }[]
    >(
      `SELECT t.id, t.user_id, t.provider_id, t.scope, t.revoked,
              COALESCE(t.expiring AND t.expires < now(), false) AS expired,
              t.id_token -> 'sub' AS sub, t.id_token -> 'nonce' AS nonce,
              u.username, u.is_active, p.redirect_uris
         FROM oauth2_access_tokens t
         JOIN users u ON u.id = t.user_id
         JOIN oauth2_providers p ON p.id = t.provider_id
        WHERE t.token_hash = $1`,
      [tokenHash],
    );
    if (!row || row.expired) return { error: 'invalid_token' };
    if (row.revoked) {
      await recordIssuanceEvent(this.dataSource.manager, {
        action: 'suspicious_request',
        actorUserId: row.user_id,
        actorUsername: row.username,
        model: MODEL.accessToken,
        objectPk: row.id,
        objectUserId: row.user_id,
        providerId: row.provider_id,
        secretHash: tokenHash,
        requestId: query.requestId,
      });
      return { error: 'invalid_token' };
    }
    // authentik deletes a deactivated user's tokens; Grantry keeps the rows for the inventory, and refuses them.
    if (!row.is_active) return { error: 'invalid_token' };
    const scopes = scopeList(row.scope);
    if (!scopes.includes(SCOPE_OPENID)) return { error: 'insufficient_scope' };
    const subject = await this.issuer.subject(this.dataSource.manager, row.user_id);
    if (subject === undefined) return { error: 'invalid_token' };
    const body: Record<string, unknown> = { sub: row.sub ?? null, ...scopeClaims(subject, scopes) };
    // authentik: `if self.token.id_token.nonce:`, so an empty nonce is left out.
    if (row.nonce !== null && row.nonce !== undefined && row.nonce !== '') body.nonce = row.nonce;
    return { body, redirectUris: row.redirect_uris };
  }
}
