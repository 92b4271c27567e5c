import { HttpStatus } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { ApiError, DETAIL, ValidationApiError } from '../../common/errors/api-error';

/** A lookup that found nothing: DRF's `{"detail": "No <Model> matches the given query."}`. */
export function noMatch(model: string): ApiError {
  return new ApiError(HttpStatus.NOT_FOUND, `No ${model} matches the given query.`);
}

/** A lookup value of the wrong type (`/core/users/abc/`, a malformed UUID): DRF's bare 404. */
export function notFound(): ApiError {
  return new ApiError(HttpStatus.NOT_FOUND, DETAIL.notFound);
}

/** RBAC denial. */
export function permissionDenied(): ApiError {
  return new ApiError(HttpStatus.FORBIDDEN, DETAIL.permissionDenied);
}

/** A 400 naming one field. */
export function fieldError(field: string, message: string): ValidationApiError {
  return new ValidationApiError({ [field]: [message] });
}

/** A 400 from `validate()`. */
export function nonFieldError(message: string): ValidationApiError {
  return new ValidationApiError({ non_field_errors: [message] });
}

/** 405 with DRF's body and the Allow header. */
export function methodNotAllowed(method: string, allow: string): ApiError {
  return new ApiError(HttpStatus.METHOD_NOT_ALLOWED, DETAIL.methodNotAllowed(method), { allow });
}

/**
 * Whether a write failed on a unique constraint (optionally a named one): two writers raced past the existence
 * check. The command then answers the same 400 as the check would have.
 */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driver = error.driverError as { code?: string; constraint?: string };
  return driver.code === '23505' && (constraint === undefined || driver.constraint === constraint);
}

/** Whether a write failed on a foreign key (a referenced row deleted concurrently). */
export function isForeignKeyViolation(error: unknown): boolean {
  return error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23503';
}
