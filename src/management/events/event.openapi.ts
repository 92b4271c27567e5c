import { isIP } from 'node:net';
import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { ChoiceField, DateTimeField, DictField, field, StringField } from '../../common/validation/fields';
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

/** authentik's EventRequest (POST). */
export class EventRequest {
  @DictField({ required: false }) user?: Record<string, unknown>;
  @ChoiceField(EVENT_ACTIONS, 'EventActions') action!: string;
  @StringField({ maxLength: 64 }) app!: string;
  @DictField({ required: false }) context?: Record<string, unknown>;
  @IpAddressField() client_ip?: string | null;
  @DateTimeField({ required: false }) expires?: string;
  @DictField({ required: false }) brand?: Record<string, unknown>;
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
