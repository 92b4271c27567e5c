import { randomBytes, randomUUID } from 'node:crypto';
import { Injectable, Optional } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { sha256 } from '../../../common/crypto/secrets';
import { DEFAULT_ACR } from '../../../common/serializers/id-token';
import { Sealer } from '../../../keys/sealing';
import { Metrics } from '../../../metrics/metrics';
import { loadSigningKey, type SigningKey, signJwt } from '../../../keys/signing-keys';
import { parseTimedelta } from '../../../providers/timedelta';
import { accessTokenHash, issuerFor, subjectFor } from '../../common/grants';
import type { Client } from './clients';
import { type ClaimsUser, scopeClaims } from './scopes';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** authentik's generate_id: `length` characters from [A-Za-z0-9] (rejection sampling, so no character is likelier). */
export function generateId(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length)) {
      if (byte < 248) out += ALPHANUMERIC[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A user as issuance needs them: claims, and whether they may hold tokens. */
export interface Subject extends ClaimsUser {
  isActive: boolean;
}

export interface IssueInput {
  client: Client;
  subject: Subject;
  scopes: readonly string[];
  /** The base URL (PUBLIC_URL or the request's), for `iss`. */
  base: string;
  authTime: Date;
  /** sessions.id of the browser session the grant came from; null for back-channel grants. */
  sessionId: string | null;
  nonce: string | null;
  familyId: string;
  /** authentik's `amr` from the login (['pwd'] after a password sign-in); undefined leaves it out. */
  amr?: readonly string[];
  withRefreshToken: boolean;
  /** The authorization code returned alongside (hybrid flow): its `c_hash` goes into the ID token. */
  code?: string;
}

/** authentik's token response body. */
export interface TokenResponseBody {
  access_token: string;
  token_type: 'Bearer';
  scope: string;
  expires_in: number;
  id_token: string;
  refresh_token?: string;
}

export interface Issued {
  body: TokenResponseBody;
  accessTokenId: number;
  refreshTokenId: number | undefined;
  /** The ID token's claims, as stored with the access token. */
  idToken: Record<string, unknown>;
}

/** authentik's `amr` after a password sign-in (the only kind Grantry's sign-in page does). */
export const PASSWORD_LOGIN_AMR: readonly string[] = ['pwd'];

/** The tables issuance writes tokens to (a fixed name in the INSERT, never input). */
type GrantTable = 'oauth2_access_tokens' | 'oauth2_refresh_tokens';

const seconds = (date: Date): number => Math.floor(date.getTime() / 1000);

/** Opened signing keys kept in memory (a key row never changes: rotation makes a new row). */
const MAX_CACHED_KEYS = 1000;

/**
 * Mints and stores tokens: JWT access tokens and ID tokens with authentik's claims, signed with the provider's key
 * pair, and 128-character refresh tokens; only each value's SHA-256 is stored, with the ID token's claims.
 */
@Injectable()
export class TokenIssuer {
  private readonly keys = new Map<string, Promise<SigningKey | null>>();
  private installId: Promise<string> | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly sealer: Sealer,
    /** Absent only where nothing is issued (the management API reads subject() alone). */
    @Optional() private readonly metrics?: Metrics,
  ) {}

  /** The issuer the client is told: per application, or the base for issuer_mode=global. */
  issuer(client: Client, base: string): string {
    return issuerFor(client.provider.issuerMode, client.application?.slug, base);
  }

  /** The user with what claims need (group and role names), or undefined when there is no such user. */
  async subject(manager: EntityManager, userId: number): Promise<Subject | undefined> {
    const [row] = await manager.query<
      {
        id: number;
        uuid: string;
        username: string;
        name: string;
        email: string;
        attributes: Record<string, unknown>;
        is_active: boolean;
        groups: string[];
        roles: string[];
      }[]
    >(
      `SELECT u.id, u.uuid, u.username, u.name, u.email, u.attributes, u.is_active,
              ARRAY(SELECT g.name FROM user_groups ug JOIN groups g ON g.id = ug.group_id
                     WHERE ug.user_id = u.id ORDER BY g.name) AS groups,
              ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                     WHERE ur.user_id = u.id ORDER BY r.name) AS roles
         FROM users u WHERE u.id = $1`,
      [userId],
    );
    if (!row) return undefined;
    return {
      id: row.id,
      uuid: row.uuid,
      username: row.username,
      name: row.name,
      email: row.email,
      attributes: row.attributes,
      isActive: row.is_active,
      groups: row.groups,
      roles: row.roles,
    };
  }

  /** Signs, stores and answers an access token (and a refresh token when asked), inside `manager`'s transaction. */
  async issue(manager: EntityManager, input: IssueInput): Promise<Issued> {
    const { provider } = input.client;
    const key = await this.signingKey(provider.signingKey);
    const now = new Date();
    const accessLifetimeMs = parseTimedelta(
      provider.accessTokenValidity,
      "the provider's access_token_validity",
    );
    // Whole seconds, so the row's expiry (what the inventory shows) is exactly the tokens' `exp`.
    const expires = new Date(Math.floor((now.getTime() + accessLifetimeMs) / 1000) * 1000);
    const scope = input.scopes.join(' ');
    const claims: Record<string, unknown> = {
      iss: this.issuer(input.client, input.base),
      sub: subjectFor(provider.subMode, input.subject, await this.install()),
      aud: provider.clientId,
      exp: seconds(expires),
      iat: seconds(now),
      auth_time: seconds(input.authTime),
      acr: DEFAULT_ACR,
    };
    if (input.amr !== undefined) claims.amr = input.amr;
    if (input.code !== undefined) claims.c_hash = accessTokenHash(input.code);
    if (input.nonce !== null && input.nonce !== '') claims.nonce = input.nonce;
    if (input.sessionId !== null) claims.sid = input.sessionId;
    claims.jti = generateId(40);
    if (provider.includeClaimsInIdToken) Object.assign(claims, scopeClaims(input.subject, input.scopes));
    // authentik's to_access_token: the ID token's claims plus azp, uid and scope.
    const accessToken = await signJwt(key, { ...claims, azp: provider.clientId, uid: generateId(40), scope });
    const idToken = { ...claims, at_hash: accessTokenHash(accessToken) };
    const idTokenJwt = await signJwt(key, idToken);
    const store = async (table: GrantTable, value: string, expiry: Date): Promise<number> => {
      const [row] = await manager.query<{ id: number }[]>(
        `INSERT INTO ${table}
           (provider_id, user_id, scope, auth_time, session_id, family_id, token_hash, id_token, expires, expiring,
            revoked, created)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, false, $10) RETURNING id`,
        [
          provider.id,
          input.subject.id,
          scope,
          input.authTime,
          input.sessionId,
          input.familyId,
          sha256(value),
          idToken,
          expiry,
          now,
        ],
      );
      if (!row) throw new Error(`${table} insert returned no row`);
      return row.id;
    };
    const accessTokenId = await store('oauth2_access_tokens', accessToken, expires);
    this.metrics?.grantsIssued('access_token', 1, manager);
    const body: TokenResponseBody = {
      access_token: accessToken,
      token_type: 'Bearer',
      scope,
      expires_in: Math.floor(accessLifetimeMs / 1000),
      id_token: idTokenJwt,
    };
    let refreshTokenId: number | undefined;
    if (input.withRefreshToken) {
      const refreshToken = generateId(128);
      const lifetime = parseTimedelta(provider.refreshTokenValidity, "the provider's refresh_token_validity");
      refreshTokenId = await store('oauth2_refresh_tokens', refreshToken, new Date(now.getTime() + lifetime));
      this.metrics?.grantsIssued('refresh_token', 1, manager);
      body.refresh_token = refreshToken;
    }
    return { body, accessTokenId, refreshTokenId, idToken };
  }

  /** A new family id (one per authorization). */
  newFamily(): string {
    return randomUUID();
  }

  private async signingKey(kpUuid: string | null): Promise<SigningKey> {
    if (kpUuid === null) throw new Error('the provider has no signing key');
    let pending = this.keys.get(kpUuid);
    if (pending === undefined) {
      if (this.keys.size >= MAX_CACHED_KEYS) this.keys.clear();
      pending = loadSigningKey(this.dataSource.manager, this.sealer, kpUuid);
      this.keys.set(kpUuid, pending);
      pending.catch(() => this.keys.delete(kpUuid));
    }
    const key = await pending;
    if (key === null) {
      this.keys.delete(kpUuid);
      throw new Error('the provider signing key row is missing');
    }
    return key;
  }

  private install(): Promise<string> {
    this.installId ??= this.dataSource
      .query<{ install_id: string }[]>('SELECT install_id FROM install WHERE id = 1')
      .then((rows) => {
        const id = rows[0]?.install_id;
        if (id === undefined) throw new Error('the install row is missing: the database was not migrated');
        return id;
      });
    this.installId.catch(() => (this.installId = undefined));
    return this.installId;
  }
}
