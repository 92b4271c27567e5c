import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { Metrics } from '../../../metrics/metrics';
import { sha256 } from '../../../common/crypto/secrets';
import { MODEL, recordIssuanceEvent } from '../core/audit';
import { type ClientCredentials, Clients } from '../core/clients';
import { TokenError } from '../core/oauth-errors';
import { authenticateClient } from './client-auth';

/**
 * RFC 7009 revocation as authentik's TokenRevokeView does it: a public client is identified by its id, a
 * confidential one must authenticate (else TokenError invalid_client, 401); then the client's access or refresh token
 * whose value was presented is deleted, with an audit event. Answers how many rows were deleted (0 for a token that is
 * unknown, already gone, or another client's: the caller answers 200 all the same, as RFC 7009 §2.2 asks).
 */
export class RevokeTokenCommand extends Command<number> {
  constructor(
    readonly credentials: ClientCredentials,
    readonly token: string | undefined,
    readonly requestId: string,
  ) {
    super();
  }
}

@CommandHandler(RevokeTokenCommand)
export class RevokeTokenHandler implements ICommandHandler<RevokeTokenCommand> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clients: Clients,
    private readonly metrics: Metrics,
  ) {}

  async execute(command: RevokeTokenCommand): Promise<number> {
    const auth = await authenticateClient(
      this.clients,
      this.dataSource.manager,
      command.credentials,
      command.requestId,
      this.metrics,
    );
    if (auth.kind === 'unknown' || auth.kind === 'failed') throw new TokenError('invalid_client', 401);
    const { provider } = auth.client;
    if (command.token === undefined || command.token === '') return 0;
    const tokenHash = sha256(command.token);
    // authentik deletes the row (the inventory then no longer lists it). Revoking a refresh token leaves the access
    // tokens issued with it valid, as in authentik.
    // By the hash's unique index, then the provider (see grant-lookup.ts).
    return this.dataSource.transaction(async (manager) => {
      const deleted = await manager.query<{ model: string; id: number; user_id: number }[]>(
        `WITH a AS (DELETE FROM oauth2_access_tokens
                     WHERE id = (SELECT id FROM oauth2_access_tokens WHERE token_hash = $1) AND provider_id = $2
                    RETURNING id, user_id),
              r AS (DELETE FROM oauth2_refresh_tokens
                     WHERE id = (SELECT id FROM oauth2_refresh_tokens WHERE token_hash = $1) AND provider_id = $2
                    RETURNING id, user_id)
         SELECT $3::text AS model, id, user_id FROM a UNION ALL SELECT $4::text, id, user_id FROM r`,
        [tokenHash, provider.id, MODEL.accessToken, MODEL.refreshToken],
      );
      for (const row of deleted) {
        this.metrics.grantsRevoked(
          row.model === MODEL.accessToken ? 'access_token' : 'refresh_token',
          1,
          'revoke_endpoint',
          manager,
        );
        await recordIssuanceEvent(manager, {
          action: 'token_revoked',
          actorUserId: null,
          actorUsername: provider.clientId,
          model: row.model,
          objectPk: row.id,
          objectUserId: row.user_id,
          providerId: provider.id,
          secretHash: tokenHash,
          requestId: command.requestId,
        });
      }
      return deleted.length;
    });
  }
}
