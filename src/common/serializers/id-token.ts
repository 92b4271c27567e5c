/**
 * authentik's `id_token` field: the ID token claims as Python's `json.dumps(claims, indent=4)` prints them (4-space
 * indent, `": "` and `","` separators, non-ASCII escaped as \uXXXX), standard claims first in the IDToken dataclass
 * order, then any other claims in stored order, null values dropped, `acr` defaulting to authentik's default.
 *
 * Written as one pass appending to a string: a page of 100 tokens formats 100 of these per request, and the
 * straightforward version (spread, entries, filter, fromEntries, map and join per level) allocated about 1 MB for
 * them.
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
const STANDARD = new Set(ORDER);
/** The IDToken dataclass's field order (introspection answers the claims in it too). */
export const ID_TOKEN_CLAIM_ORDER: readonly string[] = ORDER;
export const DEFAULT_ACR = 'goauthentik.io/providers/oauth2/default';

/** `depth` levels of Python's indent=4, cached: the claims nest a few levels at most. */
const INDENTS: string[] = [];
function indent(depth: number): string {
  return (INDENTS[depth] ??= `\n${'    '.repeat(depth)}`);
}

export function formatIdToken(claims: Record<string, unknown> | null | undefined): string {
  const source = claims ?? {};
  let out = '';
  const member = (key: string, value: unknown): void => {
    if (value === null || value === undefined) return;
    out += `${out === '' ? '{' : ','}${indent(1)}${escapeString(key)}: ${pythonDumps(value, 1)}`;
  };
  for (const key of ORDER) {
    if (key === 'acr') member(key, source.acr ?? DEFAULT_ACR);
    else if (Object.hasOwn(source, key)) member(key, source[key]);
  }
  for (const key of Object.keys(source)) if (!STANDARD.has(key)) member(key, source[key]);
  return out === '' ? '{}' : `${out}${indent(0)}}`;
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

/** A value at nesting `depth` (its members are indented one level more). */
function pythonDumps(value: unknown, depth: number): string {
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
    let out = '[';
    for (let i = 0; i < value.length; i += 1) {
      out += `${i === 0 ? '' : ','}${indent(depth + 1)}${pythonDumps(value[i], depth + 1)}`;
    }
    return `${out}${indent(depth)}]`;
  }
  if (typeof value === 'object') {
    let out = '';
    for (const key of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[key];
      out += `${out === '' ? '{' : ','}${indent(depth + 1)}${escapeString(key)}: ${pythonDumps(item, depth + 1)}`;
    }
    return out === '' ? '{}' : `${out}${indent(depth)}}`;
  }
  return 'null';
}
