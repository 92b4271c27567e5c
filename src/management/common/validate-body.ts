import type { Type } from '@nestjs/common';
import { ValidationApiError, type ValidationErrorBody } from '../../common/errors/api-error';
import { BodyValidationPipe } from '../../common/validation/body-validation.pipe';

const pipe = new BodyValidationPipe();

/**
 * A command's input checked exactly as the global pipe checks `@Body() dto: T` (DRF's 400 bodies), run by the handler
 * itself: DRF checks permissions (and looks the object up) before it validates the body, so a caller without the
 * permission gets the 403 (or 404), not a 400 about the fields. The CLI, which dispatches the same commands without
 * HTTP, is held to the same rules.
 */
export async function validateBody<T extends object>(type: Type<T>, body: unknown): Promise<T> {
  return (await pipe.transform(body, { type: 'body', metatype: type, data: undefined })) as T;
}

/**
 * Like validateBody, but a body whose fields fail their own checks is not the end: the fields that passed are returned
 * (validated with the PATCH class, so the failed ones count as absent), with the errors, so the handler can add its
 * database checks (unique names, existing pks) to the same 400, as DRF reports every failing field at once.
 */
export async function validateBodyCollecting<T extends object, P extends object>(
  type: Type<T>,
  partial: Type<P>,
  body: unknown,
): Promise<{ value: T | P; errors: ValidationErrorBody }> {
  try {
    return { value: await validateBody(type, body), errors: {} };
  } catch (error) {
    if (!(error instanceof ValidationApiError) || 'non_field_errors' in error.errors) throw error;
    const rest = { ...(body as Record<string, unknown>) };
    for (const field of Object.keys(error.errors)) delete rest[field];
    return { value: await validateBody(partial, rest), errors: error.errors };
  }
}

/**
 * A request body handed to a command as its input type, not yet checked: the command validates it (validateBody)
 * after the permission check, so a caller without the permission gets 403 rather than a 400 about the fields.
 */
export function unvalidated<T>(body: unknown): T {
  return body as T;
}
