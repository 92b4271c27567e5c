import { type ArgumentMetadata, HttpStatus, Injectable, type PipeTransform } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError as ClassValidationError } from 'class-validator';
import { ApiError, ValidationApiError, type ValidationErrorBody } from '../errors/api-error';
import { pythonType } from './fields';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth';

/**
 * What the JSON parser hands on for a body that is not valid JSON. The parse error is answered only when the body is
 * read (400 `{"detail":"JSON parse error."}`), as DRF parses lazily: authentication (403) and the handler's permission
 * check and lookup come first, so an anonymous or unprivileged caller learns nothing from a broken body.
 */
export const MALFORMED_JSON: unique symbol = Symbol('malformed JSON body');

export function jsonParseError(): ApiError {
  return new ApiError(HttpStatus.BAD_REQUEST, 'JSON parse error.');
}

/**
 * The one global pipe: a request body bound to a DTO class is checked with class-validator and answered, when it
 * fails, with authentik's (DRF's) 400 body `{"field": ["message"]}`, every failing field at once, one message per field
 * (the first that fails, as DRF stops at a field's first failing validator). Properties the DTO does not declare are
 * dropped, as DRF's serializers ignore unknown fields. Anything that is not a JSON object is DRF's
 * `{"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}`.
 *
 * Query strings, route parameters and bodies without a DTO class pass through untouched.
 */
@Injectable()
export class BodyValidationPipe implements PipeTransform {
  async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const type = metadata.metatype;
    if (metadata.type !== 'body' || !type || PRIMITIVES.has(type)) return value;
    if (value === MALFORMED_JSON) throw jsonParseError();
    if (value === undefined || value === null) value = {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ValidationApiError({
        non_field_errors: [`Invalid data. Expected a dictionary, but got ${pythonType(value)}.`],
      });
    }
    // Refused before anything recurses into it: class-transformer (and PostgreSQL's jsonb) would overflow the stack.
    if (nestsDeeperThan(value, MAX_JSON_DEPTH)) throw jsonParseError();
    const instance = plainToInstance(type, value) as object;
    const errors = await validate(instance, {
      whitelist: true,
      forbidUnknownValues: false,
      stopAtFirstError: true,
      validationError: { target: false, value: false },
    });
    if (errors.length > 0) throw new ValidationApiError(toBody(errors));
    return instance;
  }
}

const PRIMITIVES = new Set<unknown>([String, Boolean, Number, Array, Object]);

function toBody(errors: ClassValidationError[]): ValidationErrorBody {
  const body: ValidationErrorBody = {};
  for (const error of errors) {
    const messages = Object.values(error.constraints ?? {});
    if (messages.length > 0) body[error.property] = [messages[0] ?? ''];
    else if (error.children && error.children.length > 0) body[error.property] = flatten(error.children);
  }
  return body;
}

function flatten(errors: ClassValidationError[]): string[] {
  return errors.flatMap((error) => [
    ...Object.values(error.constraints ?? {}).slice(0, 1),
    ...flatten(error.children ?? []),
  ]);
}
