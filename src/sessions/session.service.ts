import { randomBytes, randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { DataSource, type EntityManager } from 'typeorm';
import { sha256 } from '../common/crypto/secrets';
import { clientAddress } from '../common/http/client-address';
import { BackgroundJob, PeriodicTask, runExclusively } from '../database/background-jobs';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { Metrics } from '../metrics/metrics';
import { readToken } from './cookies';

/** The session cookie's name (`__Host-grantry_session` over https). */
export const SESSION_COOKIE = 'grantry_session';

export interface SessionUser {
  id: number;
  uuid: string;
  username: string;
  name: string;
  email: string;
}

export interface SessionInfo {
  /** sessions.id: also what access tokens issued in the session hold in session_id (the `sid` claim). */
  id: string;
  /** When the user signed in (OIDC's auth_time). */
  created: Date;
  expires: Date;
}

export interface SignedIn {
  user: SessionUser;
  session: SessionInfo;
  /** The cookie's token: the CSRF binding of forms shown inside the session. Never stored. */
  token: string;
}

/** How stale last_seen may be before a request writes it again (so a busy session is not a write per request). */
const TOUCH_AFTER_SECONDS = 60;

/** User agents are kept for the session list, not parsed; a longer one is cut. */
const MAX_USER_AGENT = 512;

/** How often each instance tries to delete sessions long over (one instance at a time: runExclusively). */
const SWEEP_INTERVAL_MS = 3_600_000;

/**
 * Browser sessions, server-side in PostgreSQL so that every instance honours them (issue 10). The authorize and
 * consent pages use current() to learn who is signed in, and end() to sign out.
 */
@Injectable()
export class SessionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SessionService.name);
  private readonly sweeps = new PeriodicTask('sweeping sessions', () => this.sweep(), this.logger);

  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: Metrics,
  ) {}

  /**
   * The signed-in user and session of a request, or undefined: no cookie, an unknown token, or a session that was
   * ended, has expired (SESSION_MAX_AGE_SECONDS), was idle too long (SESSION_IDLE_SECONDS), or whose user has been
   * deactivated.
   */
  async current(request: FastifyRequest): Promise<SignedIn | undefined> {
    const token = readToken(request, SESSION_COOKIE);
    if (token === undefined) return undefined;
    const rows = await this.dataSource.query<
      {
        id: string;
        created: Date;
        expires: Date;
        user_id: number;
        uuid: string;
        username: string;
        name: string;
        email: string;
      }[]
    >(
      `WITH found AS (
         SELECT s.id, s.created, s.expires, s.last_seen, u.id AS user_id, u.uuid, u.username, u.name, u.email
           FROM sessions s JOIN users u ON u.id = s.user_id
          WHERE s.token_hash = $1 AND s.ended IS NULL AND s.expires > now()
            AND s.last_seen > now() - $2::int * interval '1 second' AND u.is_active),
       touched AS (
         UPDATE sessions SET last_seen = now()
          WHERE id IN (SELECT id FROM found WHERE last_seen < now() - $3::int * interval '1 second'))
       SELECT id, created, expires, user_id, uuid, username, name, email FROM found`,
      [sha256(token), this.config.sessionIdleSeconds, TOUCH_AFTER_SECONDS],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      token,
      user: { id: row.user_id, uuid: row.uuid, username: row.username, name: row.name, email: row.email },
      session: { id: row.id, created: row.created, expires: row.expires },
    };
  }

  /**
   * Starts a session for `userId` inside `manager`'s transaction and answers the cookie's token, which is not
   * stored anywhere (the row holds its SHA-256).
   */
  async start(
    manager: EntityManager,
    userId: number,
    request: FastifyRequest,
  ): Promise<{ token: string; session: SessionInfo }> {
    const token = randomBytes(32).toString('base64url');
    const id = randomUUID();
    const userAgent = request.headers['user-agent'];
    const [row] = await manager.query<{ created: Date; expires: Date }[]>(
      `INSERT INTO sessions (id, token_hash, user_id, expires, ip, user_agent)
       VALUES ($1, $2, $3, now() + $4::int * interval '1 second', $5, $6)
       RETURNING created, expires`,
      [
        id,
        sha256(token),
        userId,
        this.config.sessionMaxAgeSeconds,
        clientAddress(request),
        typeof userAgent === 'string' ? userAgent.slice(0, MAX_USER_AGENT) : '',
      ],
    );
    if (!row) throw new Error('session insert returned no row');
    return { token, session: { id, created: row.created, expires: row.expires } };
  }

  /**
   * Deletes sessions that have been over (ended, expired, or idle past SESSION_IDLE_SECONDS) for longer than
   * SESSION_MAX_AGE_SECONDS: ended rows are kept that long as a record of who was signed in from where. Answers the
   * number deleted, or undefined when another instance is sweeping right now.
   */
  async sweep(): Promise<number | undefined> {
    const run = await runExclusively(this.dataSource, BackgroundJob.sessionSweep, async (manager) => {
      const [row] = await manager.query<{ n: number }[]>(
        `WITH d AS (
         DELETE FROM sessions
          WHERE least(coalesce(ended, 'infinity'), expires, last_seen + $2::int * interval '1 second')
                < now() - $1::int * interval '1 second'
         RETURNING 1)
       SELECT count(*)::int AS n FROM d`,
        [this.config.sessionMaxAgeSeconds, this.config.sessionIdleSeconds],
      );
      return row?.n ?? 0;
    });
    return run?.result;
  }

  onApplicationBootstrap(): void {
    this.sweeps.start(SWEEP_INTERVAL_MS);
  }

  onApplicationShutdown(): Promise<void> {
    return this.sweeps.stop();
  }

  /**
   * Ends a session: marks it ended and deletes the access tokens issued in it, as authentik does at logout, with an
   * audit event, in one transaction. Answers how many access tokens were deleted; ending an ended session does
   * nothing (0).
   */
  async end(signedIn: Pick<SignedIn, 'user' | 'session'>, requestId: string | undefined): Promise<number> {
    return this.dataSource.transaction(async (manager) => {
      const ended = await manager.query<{ id: string }[]>(
        `UPDATE sessions SET ended = now() WHERE id = $1 AND ended IS NULL RETURNING id`,
        [signedIn.session.id],
      );
      if (ended.length === 0) return 0;
      const deleted = await manager.query<{ n: number }[]>(
        `WITH d AS (DELETE FROM oauth2_access_tokens WHERE session_id = $1 RETURNING 1)
         SELECT count(*)::int AS n FROM d`,
        [signedIn.session.id],
      );
      this.metrics.grantsRevoked('access_token', deleted[0]?.n ?? 0, 'sign_out', manager);
      await recordAudit(
        manager,
        'logout',
        signedIn.user.id,
        signedIn.user.username,
        signedIn.user.id,
        requestId,
      );
      return deleted[0]?.n ?? 0;
    });
  }
}

/**
 * One audit event about a user's sign-in (model `user`, object_pk the user's id, or 0 for a name that matches no
 * user). Never a password; the attempted name of a failed sign-in is kept, cut to the column's 150 characters.
 */
export async function recordAudit(
  manager: EntityManager | DataSource,
  action: 'login' | 'login_failed' | 'logout' | 'password_set',
  actorUserId: number | null,
  actorUsername: string,
  objectUserId: number | null,
  requestId: string | undefined,
): Promise<void> {
  await manager.query(
    `INSERT INTO audit_events (action, actor_user_id, actor_username, model, object_pk, object_user_id, request_id)
     VALUES ($1, $2, $3, 'user', $4, $5, $6)`,
    [action, actorUserId, actorUsername.slice(0, 150), objectUserId ?? 0, objectUserId, requestId ?? null],
  );
}
