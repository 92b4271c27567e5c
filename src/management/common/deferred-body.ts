import type { Type } from '@nestjs/common';
import { ValidationApiError, type ValidationErrorBody } from '../../common/errors/api-error';
import { BodyValidationPipe } from '../../common/validation/body-validation.pipe';

const pipe = new BodyValidationPipe();

/**
 * Validates a request body against its DTO class inside a handler, after the permission checks and the lookup: DRF
 * runs `get_object()` and the permission classes (403/404) before the serializer (400), so a caller without the
 * permission never learns which fields were wrong. Same bodies as the global pipe.
 */
export async function validateBody<T extends object>(dto: Type<T>, body: unknown): Promise<T> {
  return (await pipe.transform(body, { type: 'body', metatype: dto })) as T;
}

/**
 * Like validateBody, but a body whose fields fail their own checks is not the end: the fields that passed are returned
 * (validated with the PATCH class, so the failed ones count as absent), with the errors, so the handler can add its
 * database checks (unique names, existing pks) to the same 400, as DRF reports every failing field at once.
 */
export async function validateBodyCollecting<T extends object, P extends object>(
  dto: Type<T>,
  partial: Type<P>,
  body: unknown,
): Promise<{ value: T | P; errors: ValidationErrorBody }> {
  try {
    return { value: await validateBody(dto, body), errors: {} };
  } catch (error) {
    if (!(error instanceof ValidationApiError) || 'non_field_errors' in error.errors) throw error;
    const rest = { ...(body as Record<string, unknown>) };
    for (const field of Object.keys(error.errors)) delete rest[field];
    return { value: await validateBody(partial, rest), errors: error.errors };
  }
}
