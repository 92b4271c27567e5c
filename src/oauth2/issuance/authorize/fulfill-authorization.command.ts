import { randomBytes } from 'node:crypto';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { sha256 } from '../../../common/crypto/secrets';
import { Metrics } from '../../../metrics/metrics';
import { parseTimedelta } from '../../../providers/timedelta';
import type { SignedIn } from '../../../sessions/session.service';
import { MODEL, recordIssuanceEvent } from '../core/audit';
import type { Client } from '../core/clients';
import { PASSWORD_LOGIN_AMR, TokenIssuer } from '../core/token-issuer';
import type { AuthorizeRequest } from './authorize-request';

/**
 * The end of an approved (or refused) authorization: authentik's OAuthFulfillmentStage. Allowed: a code is stored
 * (code and hybrid flows) and tokens are issued (implicit and hybrid), and the fields of the response are answered.
 * Refused: only the audit event. Either way one audit event records it.
 */
export class FulfillAuthorizationCommand extends Command<Record<string, string> | undefined> {
  constructor(
    readonly client: Client,
    readonly params: AuthorizeRequest,
    readonly signedIn: Pick<SignedIn, 'user' | 'session'>,
    readonly base: string,
    readonly requestId: string,
    readonly allowed: boolean,
  ) {
    super();
  }
}

@CommandHandler(FulfillAuthorizationCommand)
export class FulfillAuthorizationHandler implements ICommandHandler<FulfillAuthorizationCommand> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly issuer: TokenIssuer,
    private readonly metrics: Metrics,
  ) {}

  async execute(command: FulfillAuthorizationCommand): Promise<Record<string, string> | undefined> {
    const { client, params, signedIn } = command;
    const { provider } = client;
    return this.dataSource.transaction(async (manager) => {
      await recordIssuanceEvent(manager, {
        action: command.allowed ? 'authorization_granted' : 'authorization_denied',
        actorUserId: signedIn.user.id,
        actorUsername: signedIn.user.username,
        model: MODEL.provider,
        objectPk: provider.id,
        objectUserId: signedIn.user.id,
        providerId: provider.id,
        requestId: command.requestId,
      });
      if (!command.allowed) return undefined;
      const familyId = this.issuer.newFamily();
      const authTime = signedIn.session.created;
      const fields: Record<string, string> = {};
      let code: string | undefined;
      if (params.returnsCode) {
        // authentik's code is uuid4().hex (32 hex digits); this is 128 random bits in the same shape.
        code = randomBytes(16).toString('hex');
        const expires = new Date(
          Date.now() + parseTimedelta(provider.accessCodeValidity, "the provider's access_code_validity"),
        );
        await manager.query(
          `INSERT INTO oauth2_authorization_codes
             (provider_id, user_id, scope, expires, expiring, revoked, auth_time, session_id, code_hash, nonce,
              code_challenge, code_challenge_method, family_id)
           VALUES ($1, $2, $3, $4, true, false, $5, $6, $7, $8, $9, $10, $11)`,
          [
            provider.id,
            signedIn.user.id,
            params.scopes.join(' '),
            expires,
            authTime,
            signedIn.session.id,
            sha256(code),
            params.nonce ?? null,
            params.codeChallenge ?? null,
            params.codeChallengeMethod ?? null,
            familyId,
          ],
        );
        this.metrics.grantsIssued('authorization_code', 1, manager);
        fields.code = code;
      }
      if (params.returnsAccessToken || params.returnsIdToken) {
        const subject = await this.issuer.subject(manager, signedIn.user.id);
        if (!subject) throw new Error('the signed-in user is gone');
        const issued = await this.issuer.issue(manager, {
          client,
          subject,
          scopes: params.scopes,
          base: command.base,
          authTime,
          sessionId: signedIn.session.id,
          nonce: params.nonce ?? null,
          familyId,
          amr: PASSWORD_LOGIN_AMR,
          withRefreshToken: false,
          code,
        });
        if (params.returnsAccessToken) fields.access_token = issued.body.access_token;
        if (params.returnsIdToken) fields.id_token = issued.body.id_token;
        fields.token_type = issued.body.token_type;
        fields.expires_in = String(issued.body.expires_in);
      }
      // authentik always sends state, empty when the client sent none.
      fields.state = params.state;
      return fields;
    });
  }
}
