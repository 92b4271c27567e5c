import type { RedirectUri } from '../../../providers/oauth2-provider.entity';

/** Schemes a redirect may never go to, whatever is registered (authentik's FORBIDDEN_URI_SCHEMES). */
const FORBIDDEN_SCHEMES = new Set(['javascript', 'data', 'vbscript']);

/** Longest redirect URI considered at all; a longer one matches nothing. */
export const MAX_REDIRECT_URI = 2048;

/** Longest regex pattern compiled; registered patterns are short. */
const MAX_PATTERN = 1024;

export function hasForbiddenScheme(uri: string): boolean {
  const match = /^\s*([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri);
  return match?.[1] !== undefined && FORBIDDEN_SCHEMES.has(match[1].toLowerCase());
}

/**
 * Whether a presented redirect URI matches one registered URI of `type`: strict by string equality, regex by a full
 * match (Python's re.fullmatch). Regex patterns are matched only against URIs up
 * to MAX_REDIRECT_URI characters; patterns with nested quantifiers (the shapes that backtrack catastrophically, such
 * as `(a+)+`) are refused rather than run, so no input can make a match take exponential time.
 */
export function redirectUriMatches(
  registered: readonly RedirectUri[],
  presented: string,
  type: RedirectUri['redirect_uri_type'] = 'authorization',
): boolean {
  if (presented === '' || presented.length > MAX_REDIRECT_URI || hasForbiddenScheme(presented)) return false;
  for (const uri of registered) {
    if ((uri.redirect_uri_type ?? 'authorization') !== type) continue;
    if (uri.matching_mode === 'strict') {
      if (uri.url === presented) return true;
    } else {
      const pattern = compilePattern(uri.url);
      if (pattern?.test(presented)) return true;
    }
  }
  return false;
}

const compiled = new Map<string, RegExp | null>();

/** A registered pattern as an anchored RegExp, or null when it is invalid or could backtrack catastrophically. */
export function compilePattern(source: string): RegExp | null {
  const cached = compiled.get(source);
  if (cached !== undefined) return cached;
  let pattern: RegExp | null = null;
  if (source.length <= MAX_PATTERN && !catastrophic(source)) {
    try {
      pattern = new RegExp(`^(?:${source})$`);
    } catch {
      pattern = null;
    }
  }
  if (compiled.size > 1000) compiled.clear();
  compiled.set(source, pattern);
  return pattern;
}

/**
 * A conservative test for the shapes that make a backtracking engine exponential or high-polynomial: a group repeated
 * by `*`, `+` or `{}` that itself contains a quantifier or an alternation (`(a+)+`, `(a*)*`, `(a|aa)+`), a
 * backreference, or two quantified wildcards close together (`.*.*`). Legitimate redirect patterns
 * (`https://.*\.example\.com/cb`, `(cb|callback)`) pass.
 */
export function catastrophic(source: string): boolean {
  if (/\\[1-9]/.test(source)) return true;
  if (/(\.\*|\.\+)[^/]{0,2}(\.\*|\.\+)/.test(source)) return true;
  // Walk groups: a group whose body has an (unescaped) quantifier, followed by a quantifier.
  const stack: { quantified: boolean; alternation: boolean }[] = [];
  for (let i = 0; i < source.length; i += 1) {
    const char = source[i];
    if (char === '\\') {
      i += 1;
      continue;
    }
    if (char === '[') {
      const end = source.indexOf(']', i + 2);
      if (end === -1) return true;
      i = end;
      continue;
    }
    if (char === '(') stack.push({ quantified: false, alternation: false });
    else if (char === '|') {
      const top = stack[stack.length - 1];
      if (top) top.alternation = true;
    } else if (char === ')') {
      const group = stack.pop();
      const next = source[i + 1];
      const quantifiedAfter = next === '*' || next === '+' || next === '{' || next === '?';
      if ((group?.quantified || group?.alternation) && quantifiedAfter && next !== '?') return true;
      if (stack.length > 0 && (group?.quantified || quantifiedAfter)) {
        const top = stack[stack.length - 1];
        if (top) top.quantified = true;
      }
      // An alternation counts for the groups around it too: `((a|aa))+` backtracks like `(a|aa)+`.
      if (group?.alternation) {
        const top = stack[stack.length - 1];
        if (top) top.alternation = true;
      }
    } else if ((char === '*' || char === '+' || char === '{') && stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top) top.quantified = true;
    }
  }
  return false;
}
