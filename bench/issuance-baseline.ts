/**
 * The bare loop of the issuance scenarios, served by bench/baseline.ts: POST /application/o/token/ (the grants the
 * bench measures: client_credentials with the provider's secret, refresh_token, authorization_code) and POST
 * /application/o/introspect/, on `node:http` and `pg` alone, doing per request what Grantry's handler does
 * (src/oauth2/issuance/token/exchange-token.command.ts, src/oauth2/issuance/core/token-issuer.ts), in the same
 * order and with the same SQL statements:
 *
 * - the form parsed; the client found by client_id (provider joined with its application, one SELECT);
 * - client_credentials: without a transaction, the service account read (last_login written at most once a
 *   minute), its claims loaded (groups and roles), the application's group bindings checked, the access token and
 *   the ID token signed, the access token INSERTed;
 * - refresh_token: the secret checked; in one transaction, the refresh token SELECTed FOR UPDATE, the claims
 *   loaded, rotated when the provider's threshold says so (UPDATE revoked, a new refresh token INSERTed), both JWTs
 *   signed, the access token INSERTed;
 * - authorization_code: the secret and redirect URI checked; in one transaction, the code SELECTed FOR UPDATE, the
 *   claims loaded, both JWTs signed, the access (and refresh) token INSERTed, the code DELETEd, the redemption
 *   INSERTed;
 * - introspection: the client authenticated (secret), the access token looked up by hash, its stored ID token
 *   claims answered with active, scope and client_id.
 *
 * It shares Grantry's pure helpers (client credential parsing, secret comparison, redirect URI matching, scope
 * claims, issuer and subject, timedelta parsing, id generation and JWT signing with the same key, opened once with
 * loadSigningKey and the same Sealer), so the tokens are the same shape and the ratio measures the framework, not
 * a different algorithm. Error paths answer authentik's error body but do none of Grantry's replay bookkeeping
 * (family revocation, audit events): the bench never takes them.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { FastifyRequest } from 'fastify';
import type { Pool, PoolClient } from 'pg';
import { sha256 } from '../src/common/crypto/secrets';
import { DEFAULT_ACR } from '../src/common/serializers/id-token';
import { withUntimedDataSource } from '../src/database/data-source-options';
import { Sealer } from '../src/keys/sealing';
import { loadSigningKey, type SigningKey, signJwt } from '../src/keys/signing-keys';
import { accessTokenHash, issuerFor, subjectFor } from '../src/oauth2/common/grants';
import { readClientCredentials, secretMatches } from '../src/oauth2/issuance/core/clients';
import { idTokenDict, scopeList } from '../src/oauth2/issuance/endpoints/grant-lookup';
import { TOKEN_ERRORS, type TokenErrorCode } from '../src/oauth2/issuance/core/oauth-errors';
import { redirectUriMatches } from '../src/oauth2/issuance/core/redirect-uris';
import {
  MAPPED_SCOPES,
  SCOPE_OFFLINE_ACCESS,
  scopeClaims,
  scopeSet,
} from '../src/oauth2/issuance/core/scopes';
import { generateId } from '../src/oauth2/issuance/core/token-issuer';
import type { RedirectUri, SubMode } from '../src/providers/oauth2-provider.entity';
import { parseTimedelta } from '../src/providers/timedelta';

export interface Answer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

class OAuthError extends Error {
  constructor(readonly code: TokenErrorCode) {
    super(code);
  }
}

function errorAnswer(code: TokenErrorCode): Answer {
  return {
    status: 400,
    body: { error: code, error_description: TOKEN_ERRORS[code], request_id: randomUUID().replace(/-/g, '') },
    headers: NO_STORE,
  };
}

interface ProviderRow {
  id: number;
  name: string;
  client_id: string;
  client_type: string;
  client_secret_hash: Buffer | null;
  access_token_validity: string;
  refresh_token_validity: string;
  refresh_token_threshold: string;
  include_claims_in_id_token: boolean;
  signing_key: string | null;
  redirect_uris: RedirectUri[];
  sub_mode: SubMode;
  issuer_mode: 'global' | 'per_provider';
  a_id: string | null;
  a_slug: string | null;
  a_name: string | null;
}

interface SubjectRow {
  id: number;
  uuid: string;
  username: string;
  name: string;
  email: string;
  attributes: Record<string, unknown>;
  is_active: boolean;
  groups: string[];
  roles: string[];
}

/** The provider (all its columns, as Grantry's entity loads them) with its application. */
const CLIENT_SQL = `SELECT p.*, a.id AS a_id, a.slug AS a_slug, a.name AS a_name, a.provider_id AS a_provider_id,
                           a.created AS a_created
                      FROM oauth2_providers p LEFT JOIN applications a ON a.provider_id = p.id
                     WHERE p.client_id = $1`;

const SUBJECT_SQL = `SELECT u.id, u.uuid, u.username, u.name, u.email, u.attributes, u.is_active,
              ARRAY(SELECT g.name FROM user_groups ug JOIN groups g ON g.id = ug.group_id
                     WHERE ug.user_id = u.id ORDER BY g.name) AS groups,
              ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                     WHERE ur.user_id = u.id ORDER BY r.name) AS roles
         FROM users u WHERE u.id = $1`;

const SERVICE_ACCOUNT_SQL = `SELECT id, type, coalesce(last_login > now() - interval '1 minute', false) AS recent
         FROM users WHERE username = $1`;

const SERVICE_ACCOUNT_LOGIN_SQL = `UPDATE users SET last_login = now() WHERE id = $1`;

const ALLOWED_SQL = `
  WITH RECURSIVE reach AS (
    SELECT ug.group_id AS id FROM user_groups ug WHERE ug.user_id = $1
    UNION
    SELECT g.parent_id FROM groups g JOIN reach r ON g.id = r.id WHERE g.parent_id IS NOT NULL
  )
  SELECT (
    u.is_active
    AND EXISTS (SELECT 1 FROM applications a WHERE a.id = $2)
    AND (
      NOT EXISTS (SELECT 1 FROM application_groups ag WHERE ag.application_id = $2)
      OR EXISTS (SELECT 1 FROM application_groups ag JOIN reach r ON r.id = ag.group_id WHERE ag.application_id = $2)
    )
  ) AS allowed
  FROM users u WHERE u.id = $1`;

const INSERT_ACCESS_SQL = `INSERT INTO oauth2_access_tokens
         (provider_id, user_id, scope, auth_time, session_id, family_id, token_hash, id_token, expires, expiring,
          revoked, created)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, false, $10) RETURNING id`;

const INSERT_REFRESH_SQL = `INSERT INTO oauth2_refresh_tokens
           (provider_id, user_id, scope, auth_time, session_id, family_id, token_hash, id_token, expires, expiring,
            revoked, created)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, false, $10) RETURNING id`;

const seconds = (date: Date): number => Math.floor(date.getTime() / 1000);

export class IssuanceBaseline {
  private readonly keys = new Map<string, Promise<SigningKey | null>>();
  private installId: string | undefined;
  private readonly sealer: Sealer | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly databaseUrl: string,
    secretKey: string | undefined,
  ) {
    this.sealer = secretKey ? new Sealer(secretKey) : undefined;
  }

  async init(): Promise<void> {
    const { rows } = await this.pool.query<{ install_id: string }>(
      'SELECT install_id FROM install WHERE id = 1',
    );
    this.installId = rows[0]?.install_id;
  }

  /** The provider's key pair, opened once (loadSigningKey through a TypeORM data source of its own, then closed). */
  private signingKey(kpUuid: string | null): Promise<SigningKey> {
    if (kpUuid === null) throw new Error('the provider has no signing key');
    const sealer = this.sealer;
    if (!sealer) throw new Error('SECRET_KEY is required to open signing keys');
    let pending = this.keys.get(kpUuid);
    if (!pending) {
      pending = withUntimedDataSource(
        {
          url: this.databaseUrl,
          poolSize: 1,
          connectTimeoutMs: 10_000,
          applicationName: 'grantry-bench-keys',
        },
        (dataSource) => loadSigningKey(dataSource.manager, sealer, kpUuid),
      );
      this.keys.set(kpUuid, pending);
      pending.catch(() => this.keys.delete(kpUuid));
    }
    return pending.then((key) => {
      if (!key) throw new Error('the provider signing key row is missing');
      return key;
    });
  }

  private async client(clientId: string): Promise<ProviderRow | undefined> {
    if (clientId === '' || clientId.length > 255 || clientId.includes('\0')) return undefined;
    const { rows } = await this.pool.query<ProviderRow>(CLIENT_SQL, [clientId]);
    return rows[0];
  }

  private async transaction<T>(work: (db: PoolClient) => Promise<T>): Promise<T> {
    const db = await this.pool.connect();
    try {
      await db.query('BEGIN');
      const result = await work(db);
      await db.query('COMMIT');
      return result;
    } catch (error) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      db.release();
    }
  }

  private async subject(db: Pool | PoolClient, userId: number): Promise<SubjectRow | undefined> {
    const { rows } = await db.query<SubjectRow>(SUBJECT_SQL, [userId]);
    return rows[0]?.is_active ? rows[0] : undefined;
  }

  /** TokenIssuer.issue: both JWTs signed with the provider's key, the access (and refresh) token stored. */
  private async issue(
    db: Pool | PoolClient,
    provider: ProviderRow,
    input: {
      subject: SubjectRow;
      scopes: string[];
      base: string;
      authTime: Date;
      sessionId: string | null;
      nonce: string | null;
      familyId: string;
      amr?: string[];
      withRefreshToken: boolean;
    },
  ): Promise<Record<string, unknown>> {
    const key = await this.signingKey(provider.signing_key);
    const now = new Date();
    const accessLifetimeMs = parseTimedelta(provider.access_token_validity, 'access_token_validity');
    const expires = new Date(Math.floor((now.getTime() + accessLifetimeMs) / 1000) * 1000);
    const scope = input.scopes.join(' ');
    const claims: Record<string, unknown> = {
      iss: issuerFor(provider.issuer_mode, provider.a_slug ?? undefined, input.base),
      sub: subjectFor(provider.sub_mode, input.subject, this.installId ?? ''),
      aud: provider.client_id,
      exp: seconds(expires),
      iat: seconds(now),
      auth_time: seconds(input.authTime),
      acr: DEFAULT_ACR,
    };
    if (input.amr !== undefined) claims.amr = input.amr;
    if (input.nonce !== null && input.nonce !== '') claims.nonce = input.nonce;
    if (input.sessionId !== null) claims.sid = input.sessionId;
    claims.jti = generateId(40);
    if (provider.include_claims_in_id_token) Object.assign(claims, scopeClaims(input.subject, input.scopes));
    const accessToken = await signJwt(key, {
      ...claims,
      azp: provider.client_id,
      uid: generateId(40),
      scope,
    });
    const idToken = { ...claims, at_hash: accessTokenHash(accessToken) };
    const idTokenJwt = await signJwt(key, idToken);
    await db.query(INSERT_ACCESS_SQL, [
      provider.id,
      input.subject.id,
      scope,
      input.authTime,
      input.sessionId,
      input.familyId,
      sha256(accessToken),
      idToken,
      expires,
      now,
    ]);
    const body: Record<string, unknown> = {
      access_token: accessToken,
      token_type: 'Bearer',
      scope,
      expires_in: Math.floor(accessLifetimeMs / 1000),
      id_token: idTokenJwt,
    };
    if (input.withRefreshToken) {
      const refreshToken = generateId(128);
      const refreshExpires = new Date(
        now.getTime() + parseTimedelta(provider.refresh_token_validity, 'refresh_token_validity'),
      );
      await db.query(INSERT_REFRESH_SQL, [
        provider.id,
        input.subject.id,
        scope,
        input.authTime,
        input.sessionId,
        input.familyId,
        sha256(refreshToken),
        idToken,
        refreshExpires,
        now,
      ]);
      body.refresh_token = refreshToken;
    }
    return body;
  }

  /** POST /application/o/token/ */
  async token(request: http.IncomingMessage, form: URLSearchParams): Promise<Answer> {
    try {
      const credentials = readClientCredentials({
        headers: request.headers,
        body: form,
      } as unknown as FastifyRequest);
      const provider = await this.client(credentials.clientId);
      if (!provider) throw new OAuthError('invalid_client');
      const grant = form.get('grant_type') ?? '';
      if (
        (grant === 'authorization_code' || grant === 'refresh_token') &&
        provider.client_type === 'confidential' &&
        !secretMatches(provider.client_secret_hash, credentials.clientSecret)
      ) {
        throw new OAuthError('invalid_client');
      }
      const base = `http://${request.headers.host ?? '127.0.0.1'}`;
      let body: Record<string, unknown>;
      if (grant === 'client_credentials')
        body = await this.clientCredentials(provider, form, credentials, base);
      else if (grant === 'refresh_token') body = await this.refresh(provider, form, base);
      else if (grant === 'authorization_code') body = await this.code(provider, form, base);
      else throw new OAuthError('unsupported_grant_type');
      return { status: 200, body, headers: NO_STORE };
    } catch (error) {
      if (error instanceof OAuthError) return errorAnswer(error.code);
      throw error;
    }
  }

  private async clientCredentials(
    provider: ProviderRow,
    form: URLSearchParams,
    credentials: { clientSecret: string },
    base: string,
  ): Promise<Record<string, unknown>> {
    if ((form.get('client_assertion_type') ?? '') !== '' || provider.a_id === null)
      throw new OAuthError('invalid_grant');
    // The bench uses the provider's secret (its service account); app passwords are not part of the bare loop.
    if (!secretMatches(provider.client_secret_hash, credentials.clientSecret))
      throw new OAuthError('invalid_grant');
    const applicationId = provider.a_id;
    // As Grantry: no transaction; the service account read (its last_login written at most once a minute; the bench's
    // account exists, so its creation is not part of the loop).
    const db = this.pool;
    const account = await db.query<{ id: number; type: string; recent: boolean }>(SERVICE_ACCOUNT_SQL, [
      `ak-${provider.name}-client_credentials`.slice(0, 150),
    ]);
    const found = account.rows[0];
    if (found?.type !== 'service_account') throw new OAuthError('invalid_grant');
    if (!found.recent) await db.query(SERVICE_ACCOUNT_LOGIN_SQL, [found.id]);
    const subject = await this.subject(db, found.id);
    if (!subject) throw new OAuthError('invalid_grant');
    const allowed = await db.query<{ allowed: boolean }>(ALLOWED_SQL, [subject.id, applicationId]);
    if (allowed.rows[0]?.allowed !== true) throw new OAuthError('invalid_grant');
    const mapped = new Set<string>(MAPPED_SCOPES);
    return this.issue(db, provider, {
      subject,
      scopes: scopeSet(form.get('scope') ?? undefined).filter((scope) => mapped.has(scope)),
      base,
      authTime: new Date(),
      sessionId: null,
      nonce: null,
      familyId: randomUUID(),
      withRefreshToken: false,
    });
  }

  private async refresh(
    provider: ProviderRow,
    form: URLSearchParams,
    base: string,
  ): Promise<Record<string, unknown>> {
    const value = form.get('refresh_token') ?? '';
    if (value === '') throw new OAuthError('invalid_grant');
    return this.transaction(async (db) => {
      const { rows } = await db.query<{
        id: number;
        user_id: number;
        scope: string;
        expires: Date | null;
        expiring: boolean;
        revoked: boolean;
        auth_time: Date | null;
        session_id: string | null;
        family_id: string | null;
      }>(
        `SELECT id, user_id, scope, expires, expiring, revoked, auth_time, session_id, family_id
           FROM oauth2_refresh_tokens
          WHERE id = (SELECT id FROM oauth2_refresh_tokens WHERE token_hash = $1) AND provider_id = $2
            FOR UPDATE`,
        [sha256(value), provider.id],
      );
      const token = rows[0];
      if (!token || token.revoked) throw new OAuthError('invalid_grant');
      if (token.expiring && token.expires !== null && token.expires.getTime() <= Date.now())
        throw new OAuthError('invalid_grant');
      const subject = await this.subject(db, token.user_id);
      if (!subject) throw new OAuthError('invalid_grant');
      const granted = scopeSet(token.scope);
      const requested = scopeSet(form.get('scope') ?? undefined);
      const scopes = requested.length > 0 ? requested : granted;
      if (!scopes.every((scope) => granted.includes(scope)) || !scopes.includes(SCOPE_OFFLINE_ACCESS))
        throw new OAuthError('invalid_scope');
      let familyId = token.family_id;
      if (familyId === null) {
        familyId = randomUUID();
        await db.query('UPDATE oauth2_refresh_tokens SET family_id = $2 WHERE id = $1', [token.id, familyId]);
      }
      const thresholdMs = parseTimedelta(provider.refresh_token_threshold, 'refresh_token_threshold');
      const rotate =
        thresholdMs === 0 || (token.expires !== null && token.expires.getTime() - Date.now() < thresholdMs);
      if (rotate) await db.query('UPDATE oauth2_refresh_tokens SET revoked = true WHERE id = $1', [token.id]);
      return this.issue(db, provider, {
        subject,
        scopes,
        base,
        authTime: token.auth_time ?? new Date(),
        sessionId: token.session_id,
        nonce: null,
        familyId,
        amr: token.session_id === null ? undefined : ['pwd'],
        withRefreshToken: rotate,
      });
    });
  }

  private async code(
    provider: ProviderRow,
    form: URLSearchParams,
    base: string,
  ): Promise<Record<string, unknown>> {
    if (!redirectUriMatches(provider.redirect_uris, form.get('redirect_uri') ?? ''))
      throw new OAuthError('invalid_client');
    const value = form.get('code') ?? '';
    if (value === '') throw new OAuthError('invalid_grant');
    const codeHash = sha256(value);
    return this.transaction(async (db) => {
      const { rows } = await db.query<{
        id: number;
        user_id: number;
        scope: string;
        expires: Date | null;
        nonce: string | null;
        code_challenge: string | null;
        auth_time: Date | null;
        session_id: string | null;
        family_id: string | null;
        revoked: boolean;
      }>(
        `SELECT id, user_id, scope, expires, nonce, code_challenge, code_challenge_method, auth_time, session_id,
                family_id, revoked
           FROM oauth2_authorization_codes
          WHERE id = (SELECT id FROM oauth2_authorization_codes WHERE code_hash = $1) AND provider_id = $2
            FOR UPDATE`,
        [codeHash, provider.id],
      );
      const code = rows[0];
      // PKCE is not part of the bare loop: the bench's codes have no challenge.
      if (!code || code.code_challenge !== null || code.revoked) throw new OAuthError('invalid_grant');
      if (code.expires !== null && code.expires.getTime() <= Date.now())
        throw new OAuthError('invalid_grant');
      const subject = await this.subject(db, code.user_id);
      if (!subject) throw new OAuthError('invalid_grant');
      const scopes = scopeSet(code.scope);
      const familyId = code.family_id ?? randomUUID();
      const body = await this.issue(db, provider, {
        subject,
        scopes,
        base,
        authTime: code.auth_time ?? new Date(),
        sessionId: code.session_id,
        nonce: code.nonce,
        familyId,
        amr: code.session_id === null ? undefined : ['pwd'],
        withRefreshToken: scopes.includes(SCOPE_OFFLINE_ACCESS),
      });
      await db.query('DELETE FROM oauth2_authorization_codes WHERE id = $1', [code.id]);
      const forgetAfter = new Date(Math.max(code.expires?.getTime() ?? 0, Date.now()) + 24 * 3600 * 1000);
      await db.query(
        `INSERT INTO oauth2_code_redemptions (code_hash, family_id, provider_id, forget_after)
         VALUES ($1, $2, $3, $4) ON CONFLICT (code_hash) DO NOTHING`,
        [codeHash, familyId, provider.id, forgetAfter],
      );
      return body;
    });
  }

  /**
   * POST /application/o/introspect/ (RFC 7662, authentik's TokenIntrospectionView, as
   * src/oauth2/issuance/endpoints/introspect.query.ts does it): the client authenticated by its secret, the token
   * looked up by hash as one of its access tokens, else refresh tokens (findGrant's statement), its stored ID token
   * claims answered (idTokenDict) with active, scope and client_id; anything else is `{"active": false}`. A wrong
   * secret is not audited here (Grantry inserts an audit event): the bench never sends one.
   */
  async introspect(request: http.IncomingMessage, form: URLSearchParams): Promise<Answer> {
    const inactive: Answer = { status: 200, body: { active: false }, headers: NO_STORE };
    const credentials = readClientCredentials({
      headers: request.headers,
      body: form,
    } as unknown as FastifyRequest);
    const provider = await this.client(credentials.clientId);
    if (
      !provider ||
      provider.client_type === 'public' ||
      !secretMatches(provider.client_secret_hash, credentials.clientSecret)
    ) {
      return inactive;
    }
    const value = form.get('token') ?? '';
    if (value === '') return inactive;
    const { rows } = await this.pool.query<{
      revoked: boolean;
      expired: boolean;
      scope: string;
      id_token: Record<string, unknown> | null;
    }>(
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
      [sha256(value), provider.id],
    );
    const grant = rows[0];
    if (!grant || grant.expired) return inactive;
    return {
      status: 200,
      body: {
        ...idTokenDict(grant.id_token ?? {}),
        active: !grant.revoked,
        scope: scopeList(grant.scope).join(' '),
        client_id: provider.client_id,
      },
      headers: NO_STORE,
    };
  }
}
