import { Logger } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { DataSource, type EntityManager } from 'typeorm';
import { sha256 } from '../../../common/crypto/secrets';
import { Metrics } from '../../../metrics/metrics';
import { parseTimedelta } from '../../../providers/timedelta';
import { ApplicationAccess } from '../access/application-access';
import { MODEL, recordClientAuthFailure, recordIssuanceEvent, revokeFamily } from '../core/audit';
import { type Client, Clients, secretMatches } from '../core/clients';
import { TokenError } from '../core/oauth-errors';
import { type PkceMethod, verifierMatches } from '../core/pkce';
import { redirectUriMatches } from '../core/redirect-uris';
import { MAPPED_SCOPES, SCOPE_OFFLINE_ACCESS, scopeSet } from '../core/scopes';
import { PASSWORD_LOGIN_AMR, type Subject, TokenIssuer, type TokenResponseBody } from '../core/token-issuer';
import {
  GRANT_AUTHORIZATION_CODE,
  GRANT_CLIENT_CREDENTIALS,
  GRANT_DEVICE_CODE,
  GRANT_PASSWORD,
  GRANT_REFRESH_TOKEN,
  type TokenRequest,
} from './token-request';

/** POST /application/o/token/: exchanges a grant for tokens; throws TokenError with authentik's error. */
export class ExchangeTokenCommand extends Command<{ client: Client; body: TokenResponseBody }> {
  constructor(readonly request: TokenRequest) {
    super();
  }
}

/** A transaction's outcome: tokens, or an error to answer after the transaction committed what it must keep. */
type Outcome = { body: TokenResponseBody } | { error: TokenError };

/** How long a redeemed code is remembered past its expiry, so that a late replay is still recognised. */
const REMEMBER_REDEEMED_MS = 24 * 3600 * 1000;

/**
 * authentik's TokenView, grant by grant, with Grantry's hardening: codes and rotated refresh tokens are consumed
 * under a row lock, so of concurrent redemptions exactly one wins; a replayed code or a reused refresh token revokes
 * every token of its family (authentik only logs the latter); secrets and PKCE verifiers are compared in constant
 * time.
 */
@CommandHandler(ExchangeTokenCommand)
export class ExchangeTokenHandler implements ICommandHandler<ExchangeTokenCommand> {
  private readonly logger = new Logger('TokenEndpoint');

  constructor(
    private readonly dataSource: DataSource,
    private readonly clients: Clients,
    private readonly issuer: TokenIssuer,
    private readonly access: ApplicationAccess,
    private readonly metrics: Metrics,
  ) {}

  async execute({ request }: ExchangeTokenCommand): Promise<{ client: Client; body: TokenResponseBody }> {
    const client = await this.clients.find(request.credentials.clientId);
    if (!client) {
      this.metrics.authFailure('oauth2_client', 'unknown_client');
      throw new TokenError('invalid_client');
    }
    const grant = request.grantType;
    if (
      (grant === GRANT_AUTHORIZATION_CODE || grant === GRANT_REFRESH_TOKEN) &&
      client.provider.clientType === 'confidential' &&
      !secretMatches(client.provider.clientSecretHash, request.credentials.clientSecret)
    ) {
      await this.clientAuthFailed(client, request);
      throw new TokenError('invalid_client');
    }
    let outcome: Outcome;
    switch (grant) {
      case GRANT_AUTHORIZATION_CODE:
        outcome = await this.authorizationCode(client, request);
        break;
      case GRANT_REFRESH_TOKEN:
        outcome = await this.refreshToken(client, request);
        break;
      case GRANT_CLIENT_CREDENTIALS:
      case GRANT_PASSWORD:
        outcome = await this.clientCredentials(client, request);
        break;
      case GRANT_DEVICE_CODE:
        outcome = await this.deviceCode(client, request);
        break;
      default:
        throw new TokenError('unsupported_grant_type');
    }
    if ('error' in outcome) throw outcome.error;
    return { client, body: outcome.body };
  }

  private async clientAuthFailed(client: Client, request: TokenRequest): Promise<void> {
    this.metrics.authFailure('oauth2_client', 'invalid');
    this.logger.warn(
      `client authentication failed for provider ${client.provider.id} from ${request.address}`,
    );
    await recordClientAuthFailure(this.dataSource.manager, client.provider, request.requestId);
  }

  private async activeSubject(manager: EntityManager, userId: number): Promise<Subject | undefined> {
    const subject = await this.issuer.subject(manager, userId);
    return subject?.isActive ? subject : undefined;
  }

  /** authentik's __post_init_code + create_code_response. */
  private async authorizationCode(client: Client, request: TokenRequest): Promise<Outcome> {
    const { provider } = client;
    // Any registered authorization URI will do (authentik does not store the one used at authorize); a mismatch is
    // invalid_client, as authentik answers.
    if (!redirectUriMatches(provider.redirectUris, request.redirectUri))
      throw new TokenError('invalid_client');
    if (request.code === '') throw new TokenError('invalid_grant');
    const codeHash = sha256(request.code);
    return this.dataSource.transaction(async (manager): Promise<Outcome> => {
      // By the hash's unique index, then the provider (see endpoints/grant-lookup.ts: the planner may otherwise scan
      // the provider's grants).
      const [code] = await manager.query<
        {
          id: number;
          user_id: number;
          scope: string;
          expires: Date | null;
          nonce: string | null;
          code_challenge: string | null;
          code_challenge_method: PkceMethod | null;
          auth_time: Date | null;
          session_id: string | null;
          family_id: string | null;
          revoked: boolean;
        }[]
      >(
        `SELECT id, user_id, scope, expires, nonce, code_challenge, code_challenge_method, auth_time, session_id,
                family_id, revoked
           FROM oauth2_authorization_codes
          WHERE id = (SELECT id FROM oauth2_authorization_codes WHERE code_hash = $1) AND provider_id = $2
            FOR UPDATE`,
        [codeHash, provider.id],
      );
      if (!code) return this.replayedCode(manager, client, codeHash, request);
      // Revoked in the inventory (bulk_revoke): refused like an expired code; the row stays, unredeemed.
      if (code.revoked) return { error: new TokenError('invalid_grant') };
      if (code.expires !== null && code.expires.getTime() <= Date.now())
        return { error: new TokenError('invalid_grant') };
      if (code.code_challenge !== null) {
        if (
          request.codeVerifier === undefined ||
          !verifierMatches(code.code_challenge, code.code_challenge_method ?? 'plain', request.codeVerifier)
        ) {
          return { error: new TokenError('invalid_grant') };
        }
      } else if (request.codeVerifier !== undefined) {
        return { error: new TokenError('invalid_grant') };
      }
      const subject = await this.activeSubject(manager, code.user_id);
      if (!subject) return { error: new TokenError('invalid_grant') };
      const scopes = scopeSet(code.scope);
      const familyId = code.family_id ?? this.issuer.newFamily();
      const issued = await this.issuer.issue(manager, {
        client,
        subject,
        scopes,
        base: request.base,
        authTime: code.auth_time ?? new Date(),
        sessionId: code.session_id,
        nonce: code.nonce,
        familyId,
        amr: code.session_id === null ? undefined : PASSWORD_LOGIN_AMR,
        withRefreshToken: scopes.includes(SCOPE_OFFLINE_ACCESS),
      });
      await manager.query(`DELETE FROM oauth2_authorization_codes WHERE id = $1`, [code.id]);
      const forgetAfter = new Date(Math.max(code.expires?.getTime() ?? 0, Date.now()) + REMEMBER_REDEEMED_MS);
      await manager.query(
        `INSERT INTO oauth2_code_redemptions (code_hash, family_id, provider_id, forget_after)
         VALUES ($1, $2, $3, $4) ON CONFLICT (code_hash) DO NOTHING`,
        [codeHash, familyId, provider.id, forgetAfter],
      );
      return { body: issued.body };
    });
  }

  /** A code that is gone: when it was redeemed before, every token of its family is revoked (in this transaction). */
  private async replayedCode(
    manager: EntityManager,
    client: Client,
    codeHash: Buffer,
    request: TokenRequest,
  ): Promise<Outcome> {
    const [redeemed] = await manager.query<{ family_id: string }[]>(
      `SELECT family_id FROM oauth2_code_redemptions WHERE code_hash = $1 AND provider_id = $2`,
      [codeHash, client.provider.id],
    );
    if (redeemed) {
      const revoked = await revokeFamily(manager, redeemed.family_id, this.metrics);
      this.logger.warn(
        `replayed authorization code for provider ${client.provider.id} from ${request.address}: revoked ${revoked} token(s) of its family`,
      );
      await recordIssuanceEvent(manager, {
        action: 'code_replayed',
        actorUserId: null,
        actorUsername: client.provider.clientId,
        model: MODEL.code,
        objectPk: 0,
        objectUserId: null,
        providerId: client.provider.id,
        secretHash: codeHash,
        requestId: request.requestId,
      });
    }
    return { error: new TokenError('invalid_grant') };
  }

  /** authentik's __post_init_refresh + create_refresh_response, with reuse detection. */
  private async refreshToken(client: Client, request: TokenRequest): Promise<Outcome> {
    const { provider } = client;
    if (request.refreshToken === '') throw new TokenError('invalid_grant');
    const tokenHash = sha256(request.refreshToken);
    return this.dataSource.transaction(async (manager): Promise<Outcome> => {
      // By the hash's unique index, then the provider (as for codes above).
      const [token] = await manager.query<
        {
          id: number;
          user_id: number;
          scope: string;
          expires: Date | null;
          expiring: boolean;
          revoked: boolean;
          auth_time: Date | null;
          session_id: string | null;
          family_id: string | null;
        }[]
      >(
        `SELECT id, user_id, scope, expires, expiring, revoked, auth_time, session_id, family_id
           FROM oauth2_refresh_tokens
          WHERE id = (SELECT id FROM oauth2_refresh_tokens WHERE token_hash = $1) AND provider_id = $2
            FOR UPDATE`,
        [tokenHash, provider.id],
      );
      if (!token) return { error: new TokenError('invalid_grant') };
      if (token.expiring && token.expires !== null && token.expires.getTime() <= Date.now()) {
        return { error: new TokenError('invalid_grant') };
      }
      if (token.revoked) return this.reusedRefreshToken(manager, client, token, tokenHash, request);
      const subject = await this.activeSubject(manager, token.user_id);
      if (!subject) return { error: new TokenError('invalid_grant') };
      const granted = scopeSet(token.scope);
      const requested = scopeSet(request.scope);
      const scopes = requested.length > 0 ? requested : granted;
      if (!scopes.every((scope) => granted.includes(scope)) || !scopes.includes(SCOPE_OFFLINE_ACCESS)) {
        return { error: new TokenError('invalid_scope') };
      }
      let familyId = token.family_id;
      if (familyId === null) {
        familyId = this.issuer.newFamily();
        await manager.query(`UPDATE oauth2_refresh_tokens SET family_id = $2 WHERE id = $1`, [
          token.id,
          familyId,
        ]);
      }
      const thresholdMs = parseTimedelta(
        provider.refreshTokenThreshold,
        "the provider's refresh_token_threshold",
      );
      const rotate =
        thresholdMs === 0 || (token.expires !== null && token.expires.getTime() - Date.now() < thresholdMs);
      if (rotate) {
        await manager.query(`UPDATE oauth2_refresh_tokens SET revoked = true WHERE id = $1`, [token.id]);
        this.metrics.grantsRevoked('refresh_token', 1, 'rotation', manager);
      }
      const issued = await this.issuer.issue(manager, {
        client,
        subject,
        scopes,
        base: request.base,
        authTime: token.auth_time ?? new Date(),
        sessionId: token.session_id,
        nonce: null,
        familyId,
        amr: token.session_id === null ? undefined : PASSWORD_LOGIN_AMR,
        withRefreshToken: rotate,
      });
      return { body: issued.body };
    });
  }

  private async reusedRefreshToken(
    manager: EntityManager,
    client: Client,
    token: { id: number; user_id: number; family_id: string | null },
    tokenHash: Buffer,
    request: TokenRequest,
  ): Promise<Outcome> {
    const revoked = token.family_id === null ? 0 : await revokeFamily(manager, token.family_id, this.metrics);
    this.logger.warn(
      `reused refresh token ${token.id} of provider ${client.provider.id} from ${request.address}: revoked ${revoked} token(s) of its family`,
    );
    await recordIssuanceEvent(manager, {
      action: 'refresh_token_reused',
      actorUserId: null,
      actorUsername: client.provider.clientId,
      model: MODEL.refreshToken,
      objectPk: token.id,
      objectUserId: token.user_id,
      providerId: client.provider.id,
      secretHash: tokenHash,
      requestId: request.requestId,
    });
    return { error: new TokenError('invalid_grant') };
  }

  /**
   * authentik's __post_init_client_credentials (client_credentials and password alike): a username with an app
   * password; the provider's secret (the provider's service account); or the secret as base64 of
   * `username:app_password`. JWT client assertions (authentik's federation) are not supported: invalid_grant.
   */
  private async clientCredentials(client: Client, request: TokenRequest): Promise<Outcome> {
    const { provider } = client;
    if (request.clientAssertionType !== '' || client.application === null) {
      return { error: new TokenError('invalid_grant') };
    }
    const application = client.application;
    // No transaction: the reads and the one INSERT of the access token need none, and the service account is
    // looked up (and its last_login written) on its own, so no request holds its row while it signs (npm run bench,
    // issue: client_credentials: in one transaction with the upsert, every exchange of a provider waited for the
    // previous one's two signatures).
    const manager = this.dataSource.manager;
    let userId: number | undefined;
    if (request.username !== '') {
      userId = await this.appPasswordUser(manager, request.username, request.password);
    } else if (secretMatches(provider.clientSecretHash, request.credentials.clientSecret)) {
      userId = await this.serviceAccount(manager, client, application.slug, application.name);
    } else {
      const decoded = Buffer.from(request.credentials.clientSecret, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        userId = await this.appPasswordUser(manager, decoded.slice(0, colon), decoded.slice(colon + 1));
      }
    }
    const subject = userId === undefined ? undefined : await this.activeSubject(manager, userId);
    // authentik runs the application's policies for every form of this grant: here, its group bindings.
    if (!subject || !(await this.access.allowed(subject.id, application.id, manager))) {
      return { error: new TokenError('invalid_grant') };
    }
    const mapped = new Set<string>(MAPPED_SCOPES);
    const scopes = scopeSet(request.scope).filter((scope) => mapped.has(scope));
    const issued = await this.issuer.issue(manager, {
      client,
      subject,
      scopes,
      base: request.base,
      authTime: new Date(),
      sessionId: null,
      nonce: null,
      familyId: this.issuer.newFamily(),
      withRefreshToken: false,
    });
    return { body: issued.body };
  }

  /** The active user named `username` whose unexpired app-password token `password` is, else undefined. */
  private async appPasswordUser(
    manager: EntityManager,
    username: string,
    password: string,
  ): Promise<number | undefined> {
    // PostgreSQL refuses NUL in text: such a name is no user's, and must not become a 500.
    if (password === '' || username.length > 150 || username.includes('\0')) return undefined;
    const [row] = await manager.query<{ id: number }[]>(
      `SELECT u.id FROM api_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.key_hash = $1 AND t.intent = 'app_password' AND u.username = $2 AND u.is_active
          AND (NOT t.expiring OR t.expires > now())`,
      [sha256(password), username],
    );
    return row?.id;
  }

  /**
   * authentik's update_or_create of the provider's service account `ak-<provider name>-client_credentials`. A user of
   * that name who is not a service account is never taken over: the grant fails instead. authentik writes last_login
   * on every exchange; Grantry at most once a minute, so busy clients do not queue on one row.
   */
  private async serviceAccount(
    manager: EntityManager,
    client: Client,
    slug: string,
    applicationName: string,
  ): Promise<number | undefined> {
    const username = `ak-${client.provider.name}-client_credentials`.slice(0, 150);
    const [found] = await manager.query<{ id: number; type: string; recent: boolean }[]>(
      `SELECT id, type, coalesce(last_login > now() - interval '1 minute', false) AS recent
         FROM users WHERE username = $1`,
      [username],
    );
    if (found) {
      if (found.type !== 'service_account') return undefined;
      if (!found.recent) await manager.query(`UPDATE users SET last_login = now() WHERE id = $1`, [found.id]);
      return found.id;
    }
    const [created] = await manager.query<{ id: number }[]>(
      `INSERT INTO users (username, name, type, path, attributes, last_login)
       VALUES ($1, $2, 'service_account', $3, '{"goauthentik.io/user/generated": true}', now())
       ON CONFLICT (username) DO NOTHING RETURNING id`,
      [
        username,
        `Autogenerated user from application ${applicationName} (client credentials)`,
        `goauthentik.io/apps/${slug}`,
      ],
    );
    if (created) return created.id;
    // Another request created it meanwhile: take that one, if it is a service account.
    const [raced] = await manager.query<{ id: number; type: string }[]>(
      `SELECT id, type FROM users WHERE username = $1`,
      [username],
    );
    return raced?.type === 'service_account' ? raced.id : undefined;
  }

  /** authentik's __post_init_device_code: pending until approved, then like an authorization code. */
  private async deviceCode(client: Client, request: TokenRequest): Promise<Outcome> {
    if (request.deviceCode === '') throw new TokenError('invalid_grant');
    return this.dataSource.transaction(async (manager): Promise<Outcome> => {
      const [device] = await manager.query<
        {
          id: number;
          user_id: number | null;
          scope: string;
          session_id: string | null;
          auth_time: Date | null;
          family_id: string | null;
        }[]
      >(
        `SELECT id, user_id, scope, session_id, auth_time, family_id FROM oauth2_device_tokens
          WHERE device_code_hash = $1 AND provider_id = $2 AND expires > now() FOR UPDATE`,
        [sha256(request.deviceCode), client.provider.id],
      );
      if (!device) return { error: new TokenError('invalid_grant') };
      if (device.user_id === null) return { error: new TokenError('authorization_pending') };
      const subject = await this.activeSubject(manager, device.user_id);
      // Checked again at redemption: the user may have left the application's groups since approving.
      if (
        !subject ||
        client.application === null ||
        !(await this.access.allowed(subject.id, client.application.id, manager))
      ) {
        return { error: new TokenError('invalid_grant') };
      }
      const scopes = scopeSet(device.scope);
      const issued = await this.issuer.issue(manager, {
        client,
        subject,
        scopes,
        base: request.base,
        authTime: device.auth_time ?? new Date(),
        sessionId: device.session_id,
        nonce: null,
        familyId: device.family_id ?? this.issuer.newFamily(),
        amr: device.session_id === null ? undefined : PASSWORD_LOGIN_AMR,
        withRefreshToken: scopes.includes(SCOPE_OFFLINE_ACCESS),
      });
      await manager.query(`DELETE FROM oauth2_device_tokens WHERE id = $1`, [device.id]);
      return { body: issued.body };
    });
  }
}
