import { isIP } from 'node:net';
import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { ChoiceField, DateTimeField, field, pythonType, StringField } from '../../common/validation/fields';
import { EVENT_ACTIONS } from '../../events/record-event';
import { Pagination } from '../../oauth2/grants/grant.openapi';

/** DRF's IPAddressField (GenericIPAddressField): an IPv4 or IPv6 address, or null. */
function IpAddressField(): PropertyDecorator {
  return field(
    'drfIpAddress',
    { required: false, nullable: true },
    { type: String, minLength: 1 },
    (value) =>
      typeof value === 'string' && value.length <= 45 && isIP(value) !== 0
        ? null
        : 'Enter a valid IPv4 or IPv6 address.',
  );
}

const NUL_MESSAGE = 'Null characters are not allowed.';

/** Whether a JSON value holds a NUL anywhere (PostgreSQL's jsonb cannot store one: it would be a 500). */
export function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (Array.isArray(value)) return value.some(holdsNul);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([key, inner]) => key.includes('\0') || holdsNul(inner));
  }
  return false;
}

/** A JSON object (DRF's DictField), without NUL characters anywhere. */
function JsonDictField(): PropertyDecorator {
  return field('drfJsonDict', { required: false }, { type: 'object', additionalProperties: {} }, (value) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return `Expected a dictionary of items but got type "${pythonType(value)}".`;
    }
    return holdsNul(value) ? NUL_MESSAGE : null;
  });
}

/** authentik's EventRequest (POST). */
export class EventRequest {
  @JsonDictField() user?: Record<string, unknown>;
  @ChoiceField(EVENT_ACTIONS, 'EventActions') action!: string;
  @StringField({ maxLength: 64, check: (value) => (value.includes('\0') ? NUL_MESSAGE : null) }) app!: string;
  @JsonDictField() context?: Record<string, unknown>;
  @IpAddressField() client_ip?: string | null;
  @DateTimeField({ required: false }) expires?: string;
  @JsonDictField() brand?: Record<string, unknown>;
}

/** authentik's PatchedEventRequest (documented only: Grantry's event log is append-only, PATCH answers 405). */
export class PatchedEventRequest extends PartialType(EventRequest, { skipNullProperties: false }) {}

export class Event {
  @ApiProperty({ format: 'uuid', readOnly: true, title: 'Event uuid' }) pk!: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: {} }) user?: Record<string, unknown>;
  @ApiProperty({ enum: EVENT_ACTIONS, enumName: 'EventActions' }) action!: string;
  @ApiProperty() app!: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: {} }) context?: Record<string, unknown>;
  @ApiPropertyOptional({ type: String, nullable: true }) client_ip?: string | null;
  @ApiProperty({ format: 'date-time', readOnly: true }) created!: string;
  @ApiPropertyOptional({ format: 'date-time' }) expires?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: {} }) brand?: Record<string, unknown>;
}

export class PaginatedEventList {
  @ApiProperty({ type: Pagination }) pagination!: Pagination;
  @ApiProperty({ type: [Event] }) results!: Event[];
  @ApiProperty({ allOf: [{ $ref: '#/components/schemas/Autocomplete' }] }) autocomplete!: Record<
    string,
    never
  >;
}
