import { type ExecutionContext, HttpStatus, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { APP_CONFIG, type AppConfig } from '../../config/config';
import { ApiError, DETAIL } from '../errors/api-error';
import { AuthFailureThrottle } from './auth-throttle';
import { parseAuthorization } from './authorization-header';
import { type AuthenticatedRequest, PRINCIPAL } from './current-principal.decorator';
import type { Principal } from './principal';
import { IS_PUBLIC } from './public.decorator';

/** What passport-http-bearer gets to see: only the header we parsed, never query or body (no keys in URLs). */
interface PassportView {
  headers: { authorization: string };
  query: Record<string, never>;
  body: undefined;
  real: AuthenticatedRequest;
}

/**
 * The global guard: every route needs a bearer key unless it is marked @Public(). Failures answer like authentik:
 * 403 with "Authentication credentials were not provided." or "Token invalid/expired", never 401 and never a
 * WWW-Authenticate challenge.
 */
@Injectable()
export class BearerAuthGuard extends AuthGuard('bearer') {
  private readonly throttle: AuthFailureThrottle;

  constructor(
    private readonly reflector: Reflector,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    super({ session: false });
    this.throttle = AuthFailureThrottle.fromConfig(config);
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const parsed = parseAuthorization(request.headers.authorization);
    switch (parsed.kind) {
      case 'none':
        throw new ApiError(HttpStatus.FORBIDDEN, DETAIL.notAuthenticated);
      case 'malformed':
        throw new ApiError(HttpStatus.FORBIDDEN, DETAIL.malformedHeader);
      case 'bearer':
        break;
    }
    // Before the lookup, so a throttled address learns nothing about its guesses (see AuthFailureThrottle).
    const wait = this.throttle.retryAfter(request);
    if (wait > 0) {
      throw new ApiError(HttpStatus.TOO_MANY_REQUESTS, DETAIL.throttled, { 'retry-after': String(wait) });
    }
    const view: PassportView = {
      headers: { authorization: `Bearer ${parsed.key}` },
      query: {},
      body: undefined,
      real: request,
    };
    (request as unknown as { passportView?: PassportView }).passportView = view;
    return (await super.canActivate(context)) as boolean;
  }

  override getRequest(context: ExecutionContext): PassportView {
    const request = context.switchToHttp().getRequest<{ passportView: PassportView }>();
    return request.passportView;
  }

  override handleRequest<TUser = Principal>(
    error: unknown,
    principal: Principal | false,
    _info: unknown,
    context: ExecutionContext,
  ): TUser {
    // Passport hands over whatever the strategy rejected with (a database error, typically): rethrow it as is.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    if (error) throw error;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (!principal) {
      this.throttle.recordFailure(request);
      throw new ApiError(HttpStatus.FORBIDDEN, DETAIL.tokenInvalid);
    }
    request[PRINCIPAL] = principal;
    return principal as TUser;
  }
}
