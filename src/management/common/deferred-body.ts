import type { Type } from '@nestjs/common';
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
