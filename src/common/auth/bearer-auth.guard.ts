import { type CanActivate, type ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import passport from 'passport';
import { Strategy as PassportBearerStrategy } from 'passport-http-bearer';
import { Metrics } from '../../metrics/metrics';
import { ApiError, DETAIL } from '../errors/api-error';
import { clientAddress } from '../http/client-address';
import { AuthService } from './auth.service';
import { AuthFailureThrottle } from './auth-throttle';
import { parseAuthorization } from './authorization-header';
import { type AuthenticatedRequest, PRINCIPAL } from './current-principal.decorator';
import type { Principal } from './principal';
import { IS_PUBLIC } from './public.decorator';

/**
 * The global guard: every route needs a bearer key unless it is marked @Public(). Failures answer like authentik:
 * 403 with "Authentication credentials were not provided." or "Token invalid/expired", never 401 and never a
 * WWW-Authenticate challenge. A key that fails is counted by the failed-auth throttle, which answers 429 instead once
 * the client failed too often (see AuthFailureThrottle); a valid key is always served.
 *
 * The key goes through passport-http-bearer, with a strategy instance of this guard's own, bound to this app's
 * AuthService: passport's named strategies live in one registry per process, so with two apps in a process (the test
 * suites make several) a strategy registered by name would have had the last app created authenticate every app's
 * requests, on its own, possibly closed, database. Passport sees only the header we parsed, never the query or the
 * body (no keys in URLs).
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
    private readonly throttle: AuthFailureThrottle,
    private readonly metrics: Metrics,
  ) {}

  private readonly strategy = new PassportBearerStrategy((key, done) => {
    this.auth.authenticate(key).then(
      (principal) => done(null, principal ?? false),
      (error: unknown) => done(error),
    );
  });

  /** The principal of `key`, or undefined; a database error of the lookup rejects. */
  private lookUp(key: string): Promise<Principal | undefined> {
    const view = { headers: { authorization: `Bearer ${key}` }, query: {}, body: undefined };
    return new Promise((resolve, reject) => {
      // A fresh object per request over the shared strategy, as passport does for a named one: passport sets the
      // request's success/fail/error callbacks on the object it is given, so two concurrent lookups on the instance
      // itself would answer each other's requests.
      const run = passport.authenticate(
        Object.create(this.strategy) as passport.Strategy,
        { session: false },
        (error: unknown, principal: Principal | false) => {
          // The strategy's error is the lookup's (a database error): passed on as it is, for the 503 mapping.
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
          if (error) reject(error);
          else resolve(principal || undefined);
        },
      ) as (request: unknown, response: unknown, next: (error?: unknown) => void) => void;
      run(view, {}, reject);
    });
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const parsed = parseAuthorization(request.headers.authorization);
    switch (parsed.kind) {
      case 'none':
        this.metrics.authFailure('api_bearer', 'missing');
        throw new ApiError(HttpStatus.FORBIDDEN, DETAIL.notAuthenticated);
      case 'malformed':
        this.metrics.authFailure('api_bearer', 'malformed');
        throw new ApiError(HttpStatus.FORBIDDEN, DETAIL.malformedHeader);
      case 'bearer':
        break;
    }
    // A database error of the lookup propagates (503); a key that does not authenticate leaves no principal.
    const principal = await this.lookUp(parsed.key);
    if (principal) {
      request[PRINCIPAL] = principal;
      return true;
    }
    this.metrics.authFailure('api_bearer', 'invalid');
    const wait = await this.throttle.recordFailure(clientAddress(request));
    if (wait > 0) {
      throw new ApiError(HttpStatus.TOO_MANY_REQUESTS, DETAIL.throttled, { 'retry-after': String(wait) });
    }
    throw new ApiError(HttpStatus.FORBIDDEN, DETAIL.tokenInvalid);
  }
}
