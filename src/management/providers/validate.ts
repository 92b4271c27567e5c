import type { Type } from '@nestjs/common';
import { BodyValidationPipe } from '../../common/validation/body-validation.pipe';

const pipe = new BodyValidationPipe();

/**
 * A command's input checked as the API's global pipe checks a body (DRF's 400 bodies), so the CLI, which dispatches
 * the same commands without HTTP, is held to the same rules. For an API caller the pipe already ran; running it again
 * on the DTO instance is cheap and changes nothing.
 */
export async function validateBody<T extends object>(type: Type<T>, value: unknown): Promise<T> {
  return (await pipe.transform(value, { type: 'body', metatype: type })) as T;
}
