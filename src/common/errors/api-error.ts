import { HttpException, HttpStatus } from '@nestjs/common';

/** authentik's GenericError body. */
export interface GenericErrorBody {
  detail: string;
}

/** authentik's ValidationError body: field -> messages, plus `non_field_errors`. */
export type ValidationErrorBody = Record<string, string[]>;

/** An error whose body is exactly `{"detail": ...}` with the given status. */
export class ApiError extends HttpException {
  constructor(
    status: HttpStatus,
    detail: string,
    /** Response headers that belong to this error (e.g. `Allow` on a 405). */
    readonly headers?: Record<string, string>,
  ) {
    super({ detail } satisfies GenericErrorBody, status);
  }
}

export class ValidationApiError extends HttpException {
  constructor(readonly errors: ValidationErrorBody) {
    super(errors, HttpStatus.BAD_REQUEST);
  }
}

/**
 * DRF's bare `Response(status=400)` (authentik's set_password/ and set_key/): a 400 with no body at all. `reason`
 * is what the CLI prints; the API sends nothing.
 */
export class EmptyBadRequest extends HttpException {
  constructor(reason = 'bad request') {
    super('', HttpStatus.BAD_REQUEST);
    this.message = reason;
  }
}

export const DETAIL = {
  notAuthenticated: 'Authentication credentials were not provided.',
  tokenInvalid: 'Token invalid/expired',
  malformedHeader: 'Malformed header',
  permissionDenied: 'You do not have permission to perform this action.',
  notFound: 'Not found.',
  unavailable: 'Service unavailable',
  serverError: 'A server error occurred.',
  throttled: 'Request was throttled.',
  methodNotAllowed: (method: string) => `Method "${method}" not allowed.`,
} as const;
