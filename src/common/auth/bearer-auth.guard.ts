import { type CanActivate, type ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Metrics } from '../../metrics/metrics';
import { ApiError, DETAIL } from '../errors/api-error';
import { clientAddress } from '../http/client-address';
import { AuthService } from './auth.service';
import { AuthFailureThrottle } from './auth-throttle';
import { parseAuthorization } from './authorization-header';
import { type AuthenticatedRequest, PRINCIPAL } from './current-principal.decorator';
import { IS_PUBLIC } from './public.decorator';

/**
 * The global guard: every route needs a bearer key unless it is marked @Public(). Failures answer like authentik:
 * 403 with "Authentication credentials were not provided." or "Token invalid/expired", never 401 and never a
 * WWW-Authenticate challenge. A key that fails is counted by the failed-auth throttle, which answers 429 instead once
 * the client failed too often (see AuthFailureThrottle); a valid key is always served.
 *
 * The key is looked up through this app's AuthService, not a passport strategy: passport keeps strategies in one
 * registry per process, so with two apps in a process (the test suites make several) the last one created would
 * authenticate every app's requests, on its own, possibly closed, database.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
    private readonly throttle: AuthFailureThrottle,
    private readonly metrics: Metrics,
  ) {}

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
    const principal = await this.auth.authenticate(parsed.key);
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
