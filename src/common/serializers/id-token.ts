/**
 * authentik's `id_token` field: the ID token claims as Python's `json.dumps(claims, indent=4)` prints them (4-space
 * indent, `": "` and `","` separators, non-ASCII escaped as \uXXXX), standard claims first in the IDToken dataclass
 * order, then any other claims in stored order, null values dropped, `acr` defaulting to authentik's default.
 */
const ORDER = [
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'auth_time',
  'acr',
  'amr',
  'c_hash',
  'nonce',
  'at_hash',
  'sid',
  'jti',
];
export const DEFAULT_ACR = 'goauthentik.io/providers/oauth2/default';

export function formatIdToken(claims: Record<string, unknown> | null | undefined): string {
  const source: Record<string, unknown> = { acr: DEFAULT_ACR, ...(claims ?? {}) };
  if (source.acr === null || source.acr === undefined) source.acr = DEFAULT_ACR;
  const ordered: [string, unknown][] = [];
  for (const key of ORDER) if (key in source) ordered.push([key, source[key]]);
  for (const [key, value] of Object.entries(source)) if (!ORDER.includes(key)) ordered.push([key, value]);
  return pythonDumps(
    Object.fromEntries(ordered.filter(([, value]) => value !== null && value !== undefined)),
    0,
  );
}

/** Printable ASCII without `"` and `\`: needs no escaping, the common case. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function escapeString(value: string): string {
  if (PLAIN.test(value)) return `"${value}"`;
  let out = '"';
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"') out += '\\"';
    else if (char === '\\') out += '\\\\';
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (char === '\b') out += '\\b';
    else if (char === '\f') out += '\\f';
    else if (code < 0x20 || code > 0x7e) {
      // Python escapes astral characters as a surrogate pair, like JSON's \u escapes.
      for (let i = 0; i < char.length; i += 1)
        out += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
    } else out += char;
  }
  return `${out}"`;
}

function pythonDumps(value: unknown, depth: number): string {
  const pad = '    '.repeat(depth + 1);
  const closePad = '    '.repeat(depth);
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return escapeString(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
    return String(value);
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((item) => pad + pythonDumps(item, depth + 1)).join(',\n')}\n${closePad}]`;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return '{}';
    return `{\n${entries.map(([key, item]) => `${pad}${escapeString(key)}: ${pythonDumps(item, depth + 1)}`).join(',\n')}\n${closePad}}`;
  }
  return 'null';
}
