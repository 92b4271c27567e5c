import { type ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { Metrics } from '../../metrics/metrics';
import { ApiError, DETAIL } from '../errors/api-error';
import { clientAddress } from '../http/client-address';
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
 * WWW-Authenticate challenge. A key that fails is counted by the failed-auth throttle, which answers 429 instead once
 * the client failed too often (see AuthFailureThrottle); a valid key is always served.
 */
@Injectable()
export class BearerAuthGuard extends AuthGuard('bearer') {
  constructor(
    private readonly reflector: Reflector,
    private readonly throttle: AuthFailureThrottle,
    private readonly metrics: Metrics,
  ) {
    super({ session: false });
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
        this.metrics.authFailure('api_bearer', 'missing');
        throw new ApiError(HttpStatus.FORBIDDEN, DETAIL.notAuthenticated);
      case 'malformed':
        this.metrics.authFailure('api_bearer', 'malformed');
        throw new ApiError(HttpStatus.FORBIDDEN, DETAIL.malformedHeader);
      case 'bearer':
        break;
    }
    const view: PassportView = {
      headers: { authorization: `Bearer ${parsed.key}` },
      query: {},
      body: undefined,
      real: request,
    };
    (request as unknown as { passportView?: PassportView }).passportView = view;
    // A database error of the lookup propagates (503); a key that does not authenticate leaves no principal.
    await super.canActivate(context);
    if (request[PRINCIPAL] !== undefined) return true;
    this.metrics.authFailure('api_bearer', 'invalid');
    const wait = await this.throttle.recordFailure(clientAddress(request));
    if (wait > 0) {
      throw new ApiError(HttpStatus.TOO_MANY_REQUESTS, DETAIL.throttled, { 'retry-after': String(wait) });
    }
    throw new ApiError(HttpStatus.FORBIDDEN, DETAIL.tokenInvalid);
  }

  override getRequest(context: ExecutionContext): PassportView {
    const request = context.switchToHttp().getRequest<{ passportView: PassportView }>();
    return request.passportView;
  }

  override handleRequest<TUser = Principal | false>(
    error: unknown,
    principal: Principal | false,
    _info: unknown,
    context: ExecutionContext,
  ): TUser {
    // Passport hands over whatever the strategy rejected with (a database error, typically): rethrow it as is.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    if (error) throw error;
    // No principal: canActivate counts the failure (which needs to wait for the database) and answers.
    if (principal) context.switchToHttp().getRequest<AuthenticatedRequest>()[PRINCIPAL] = principal;
    return principal as TUser;
  }
}
