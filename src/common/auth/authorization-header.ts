export type ParsedAuthorization = { kind: 'none' } | { kind: 'malformed' } | { kind: 'bearer'; key: string };

/**
 * authentik's reading of `Authorization` (authentik.api.authentication.validate_auth): the scheme is compared
 * case-insensitively; any other scheme, or a header without a space, counts as no credentials at all.
 */
export function parseAuthorization(header: string | string[] | undefined): ParsedAuthorization {
  if (Array.isArray(header))
    return header.length === 1 ? parseAuthorization(header[0]) : { kind: 'malformed' };
  const value = (header ?? '').trim();
  const space = value.indexOf(' ');
  if (value === '' || space < 0) return { kind: 'none' };
  if (value.slice(0, space).toLowerCase() !== 'bearer') return { kind: 'none' };
  const key = value.slice(space + 1);
  if (key === '') return { kind: 'malformed' };
  return { kind: 'bearer', key };
}
