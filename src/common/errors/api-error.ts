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
