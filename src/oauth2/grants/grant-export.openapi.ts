import { ApiProperty } from '@nestjs/swagger';

/** One exported grant: a line of the NDJSON export, a row of the CSV export (same columns, same order). */
export class GrantExportRow {
  @ApiProperty({ type: 'integer', title: 'ID' }) pk!: number;
  @ApiProperty({
    enum: ['access_token', 'refresh_token', 'authorization_code'],
    enumName: 'GrantExportTypeEnum',
  })
  type!: string;
  @ApiProperty({ type: 'integer' }) user_pk!: number;
  @ApiProperty() username!: string;
  @ApiProperty({ type: 'integer' }) provider_pk!: number;
  @ApiProperty() provider_name!: string;
  @ApiProperty() client_id!: string;
  @ApiProperty({ nullable: true, type: String, description: "Slug of the provider's application, if any." })
  application!: string | null;
  @ApiProperty({ type: [String], description: 'In CSV: the scopes separated by spaces.' }) scope!: string[];
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) expires!: string | null;
  @ApiProperty() is_expired!: boolean;
  @ApiProperty() revoked!: boolean;
  @ApiProperty({ format: 'date-time' }) created!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) auth_time!: string | null;
  @ApiProperty({
    format: 'uuid',
    nullable: true,
    type: String,
    description: 'The sign-in session the grant was issued in (the ID token `sid`).',
  })
  session_id!: string | null;
  @ApiProperty({
    format: 'uuid',
    nullable: true,
    type: String,
    description: 'The authorization the grant descends from (one per approved authorize or exchange).',
  })
  family_id!: string | null;
}

/** The export's OpenAPI description, one paragraph per string. */
export const EXPORT_DESCRIPTION = [
  `Grantry extension: every grant the list would show (same visibility: without the view permission, only one's own; same \`user\`, \`provider\`, \`search\` and incident filters), streamed as flat rows in primary-key order. \`ordering\`, \`page\` and \`page_size\` are ignored.`,
  `Formats: \`ndjson\` (default; \`application/x-ndjson\`, one GrantExportRow JSON object per line) or \`csv\` (\`text/csv; charset=utf-8\`, RFC 4180: a header row, CRLF line ends, every text cell quoted with \`"\` doubled, an empty unquoted cell for null, scope separated by spaces). Against spreadsheet formula injection (OWASP), a CSV text cell starting with \`=\`, \`+\`, \`-\`, \`@\`, tab or carriage return gets a leading \`'\`. The response is an attachment named \`<type>-<UTC timestamp>.<format>\`.`,
  `Never contains a token, code, their hashes or the ID token. Not one snapshot: the rows are the grants whose pk was at most the largest pk when the export started, each as it was when its batch of 2,000 rows was read. Errors found before the first row (403, a 400 naming a bad parameter) are JSON bodies; a failure after the transfer started cuts the connection, so an incomplete file never looks complete (the chunked transfer has no final chunk).`,
].join('\n\n');
