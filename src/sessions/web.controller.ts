import { randomBytes } from 'node:crypto';
import { Controller, Get, Inject, Logger, type OnModuleInit, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../common/auth/public.decorator';
import { clientAddress } from '../common/http/client-address';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { Metrics } from '../metrics/metrics';
import { hashPassword, needsRehash, prepareDummyHash, verifyPassword } from '../identity/password';
import { clearCookie, readToken, setCookie } from './cookies';
import { CsrfTokens } from './csrf';
import { LoginThrottle } from './login-throttle';
import { safeNext } from './next-path';
import {
  accountPage,
  FORM_POST_SCRIPT,
  loginPage,
  messagePage,
  PAGE_CSP,
  pageCsp,
  STYLESHEET,
} from './pages';
import { recordAudit, SESSION_COOKIE, SessionService } from './session.service';
import { sendPage } from './send-page';

/** The pre-session cookie the login form's CSRF token is bound to (`__Host-grantry_csrf` over https). */
export const CSRF_COOKIE = 'grantry_csrf';

/** Where a signed-in browser goes when no (acceptable) `next` was given. */
const HOME = '/account/';

/** The one answer to every refused sign-in, whatever the reason: nothing tells which usernames exist. */
export const INVALID_LOGIN = 'Invalid username or password.';
export const THROTTLED_LOGIN = 'Too many failed sign-in attempts. Wait a few minutes and try again.';
export const FORM_EXPIRED =
  'This form has expired or was not sent by this site. Reload the page and try again.';

/** Longest identifier looked up: a username is at most 150 characters, an e-mail address 254. */
const MAX_IDENTIFIER = 254;

interface UserRow {
  id: number;
  username: string;
  is_active: boolean;
  password: string | null;
  by_username: boolean;
}

/** A form field, or undefined (absent, or the body was not a form). Repeated fields: the first. */
function field(request: FastifyRequest, name: string): string | undefined {
  const body = request.body;
  return body instanceof URLSearchParams ? (body.get(name) ?? undefined) : undefined;
}

function redirect(reply: FastifyReply, location: string, cookies: string[] = []): void {
  if (cookies.length > 0) void reply.header('set-cookie', cookies);
  void reply.code(303).header('location', location).header('content-security-policy', PAGE_CSP).send();
}

/**
 * The client redirect URI a sign-in may end at: when `next` is an authorization request, the sign-in's redirects
 * may go on to the client, so the form's CSP must allow its origin (see pageCsp). The authorize endpoint still checks
 * the URI; this only widens form-action to it.
 */
function authorizeTarget(next: string | undefined): string | undefined {
  if (next === undefined || !next.startsWith('/application/o/authorize/?')) return undefined;
  return new URLSearchParams(next.slice(next.indexOf('?') + 1)).get('redirect_uri') ?? undefined;
}

/**
 * The sign-in page, the signed-in page and sign-out: server-rendered HTML, no JavaScript, outside /api/v3 and
 * without a bearer key (issue 12). POST bodies are application/x-www-form-urlencoded (parsed in app.ts for these
 * routes only). Every POST carries a CSRF token; a missing or wrong one is a 403 page.
 */
@ApiExcludeController()
@Public()
@Controller()
export class WebController implements OnModuleInit {
  private readonly logger = new Logger(WebController.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly sessions: SessionService,
    private readonly throttle: LoginThrottle,
    private readonly csrf: CsrfTokens,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: Metrics,
  ) {}

  async onModuleInit(): Promise<void> {
    await prepareDummyHash();
  }

  @Get('static/grantry.css')
  stylesheet(@Res() reply: FastifyReply): void {
    void reply
      .header('cache-control', 'public, max-age=3600')
      .header('content-security-policy', PAGE_CSP)
      .type('text/css; charset=utf-8')
      .send(STYLESHEET);
  }

  /** The form_post page's auto-submit (src/oauth2/issuance/pages.ts); a file, so the page needs no inline script. */
  @Get('static/form-post.js')
  formPostScript(@Res() reply: FastifyReply): void {
    void reply
      .header('cache-control', 'public, max-age=3600')
      .header('content-security-policy', PAGE_CSP)
      .type('text/javascript; charset=utf-8')
      .send(FORM_POST_SCRIPT);
  }

  @Get('login')
  async showLogin(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const query = request.query as Record<string, unknown>;
    const next = safeNext(query.next);
    // prompt=login (the authorize endpoint asking for a fresh sign-in: OIDC's prompt=login or max_age) shows the
    // form even to someone signed in; signing in then starts a new session.
    const fresh = query.prompt === 'login';
    if (!fresh && (await this.sessions.current(request))) return redirect(reply, next ?? HOME);
    const binding = readToken(request, CSRF_COOKIE) ?? randomBytes(32).toString('base64url');
    void reply.header('set-cookie', setCookie(request, CSRF_COOKIE, binding));
    // OIDC's login_hint fills in the name (a hint only: nothing is looked up or disclosed).
    const hint = typeof query.login_hint === 'string' ? query.login_hint.slice(0, 254) : undefined;
    sendPage(
      reply,
      200,
      loginPage({ csrf: this.csrf.token(binding, 'login'), next, username: hint }),
      pageCsp(authorizeTarget(next)),
    );
  }

  @Post('login')
  async login(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const binding = readToken(request, CSRF_COOKIE);
    if (binding === undefined || !this.csrf.valid(binding, 'login', field(request, 'csrf_token'))) {
      return sendPage(reply, 403, messagePage('Form expired', FORM_EXPIRED));
    }
    const next = safeNext(field(request, 'next'));
    const identifier = (field(request, 'username') ?? '').trim();
    const password = field(request, 'password') ?? '';
    const retry = (status: number, error: string): void =>
      sendPage(
        reply,
        status,
        loginPage({ csrf: this.csrf.token(binding, 'login'), next, username: identifier, error }),
        pageCsp(authorizeTarget(next)),
      );

    const user = await this.findUser(identifier);
    const address = clientAddress(request);
    const buckets = this.throttle.buckets(address, user?.id, identifier);
    const wait = await this.throttle.blockedFor(buckets);
    if (wait > 0) {
      void reply.header('retry-after', String(wait));
      return retry(429, THROTTLED_LOGIN);
    }
    // The password is checked even when the user cannot sign in (verifyPassword does the same work without a
    // hash), so the time taken says nothing about which it was.
    const matches = await verifyPassword(password, user?.password ?? null);
    if (!matches || user === undefined || !user.is_active || user.password === null) {
      this.metrics.authFailure('login', 'invalid');
      await this.throttle.recordFailure(buckets);
      await recordAudit(this.dataSource, 'login_failed', null, identifier, user?.id ?? null, request.id);
      return retry(400, INVALID_LOGIN);
    }
    const started = await this.dataSource.transaction(async (manager) => {
      const session = await this.sessions.start(manager, user.id, request);
      await manager.query(`UPDATE users SET last_login = now() WHERE id = $1`, [user.id]);
      // Parameters raised since this hash was made: store one made with today's, now that the password is known.
      if (user.password !== null && needsRehash(user.password)) {
        await manager.query(`UPDATE users SET password = $2 WHERE id = $1 AND password = $3`, [
          user.id,
          await hashPassword(password),
          user.password,
        ]);
      }
      await recordAudit(manager, 'login', user.id, user.username, user.id, request.id);
      return session;
    });
    this.logger.log(`user ${user.id} signed in from ${address}`);
    redirect(reply, next ?? HOME, [
      setCookie(request, SESSION_COOKIE, started.token, this.config.sessionMaxAgeSeconds),
    ]);
  }

  @Get('account')
  async account(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const signedIn = await this.sessions.current(request);
    if (!signedIn) return redirect(reply, `/login/?next=${encodeURIComponent(HOME)}`);
    sendPage(
      reply,
      200,
      accountPage({
        username: signedIn.user.username,
        name: signedIn.user.name,
        email: signedIn.user.email,
        signedInAt: signedIn.session.created,
        expires: signedIn.session.expires,
        csrf: this.csrf.token(signedIn.token, 'logout'),
      }),
    );
  }

  @Post('logout')
  async logout(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const signedIn = await this.sessions.current(request);
    // Nothing to end (no cookie, or a session already over): the browser's cookie goes, and so does it.
    if (!signedIn) return redirect(reply, '/login/', [clearCookie(request, SESSION_COOKIE)]);
    if (!this.csrf.valid(signedIn.token, 'logout', field(request, 'csrf_token'))) {
      return sendPage(reply, 403, messagePage('Form expired', FORM_EXPIRED, HOME, 'Back to your account'));
    }
    await this.sessions.end(signedIn, request.id);
    redirect(reply, '/login/', [clearCookie(request, SESSION_COOKIE)]);
  }

  /**
   * The user a sign-in names: by exact username, else by e-mail address, case-insensitively, when exactly one user
   * has it (an address two users share names neither).
   */
  private async findUser(identifier: string): Promise<UserRow | undefined> {
    if (identifier.length === 0 || identifier.length > MAX_IDENTIFIER) return undefined;
    const rows = await this.dataSource.query<UserRow[]>(
      `SELECT id, username, is_active, password, username = $1 AS by_username FROM users
        WHERE username = $1 OR (strpos($1, '@') > 0 AND lower(email) = lower($1))
        ORDER BY (username = $1) DESC, id LIMIT 3`,
      [identifier],
    );
    const byName = rows.find((row) => row.by_username);
    if (byName) return byName;
    return rows.length === 1 ? rows[0] : undefined;
  }
}
