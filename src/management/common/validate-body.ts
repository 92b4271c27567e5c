import type { Type } from '@nestjs/common';
import { BodyValidationPipe } from '../../common/validation/body-validation.pipe';

const pipe = new BodyValidationPipe();

/**
 * The global pipe's validation, run by a handler itself: DRF checks permissions (and looks the object up) before it
 * validates the body, so a caller without the permission gets the 403 (or 404), not a 400 about the body.
 */
export async function validateBody<T extends object>(raw: unknown, type: Type<T>): Promise<T> {
  return (await pipe.transform(raw, { type: 'body', metatype: type, data: undefined })) as T;
}
