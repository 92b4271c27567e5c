const BASE = 'http://grantry.invalid';

/**
 * The `next` parameter, when it is a path on this origin: it starts with a single `/`, holds no backslash (browsers
 * read `/\evil.example` as `//evil.example`) and no control character, and resolves to this origin. Anything else
 * (`//evil.example`, `https://evil.example`, `javascript:...`) is refused: undefined, and the caller goes to its
 * default page instead.
 */
export function safeNext(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2000) return undefined;
  if (!value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return undefined;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return undefined;
  }
  return url.origin === BASE ? value : undefined;
}
