/**
 * Grantry's browser pages, rendered on the server: no inline script (and none at all but the form_post page's
 * optional one), one stylesheet from this origin, forms that work with the keyboard alone. Every value from outside
 * is escaped by html().
 */

/** The pages' CSP: their own stylesheet, nothing else loads, forms post only here, and no framing. */
export const PAGE_CSP =
  "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; " +
  "base-uri 'none'";

// CSP host-source: host-char = ALPHA / DIGIT / "-", in dot-separated labels; no IPv6 literals.
const CSP_HOST = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;

/**
 * The CSP source expression naming where `uri` points: its origin for http(s) with a host CSP can write, its scheme
 * for an app's own scheme (`com.example.app:`); undefined when neither can be written safely.
 */
export function cspSource(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    return CSP_HOST.test(url.hostname) ? url.origin : undefined;
  }
  return /^[a-z][a-z0-9+.-]*:$/.test(url.protocol) &&
    !['javascript:', 'data:', 'vbscript:'].includes(url.protocol)
    ? url.protocol
    : undefined;
}

/**
 * PAGE_CSP for a page whose form may end, after redirects, at `target` (a client's redirect URI): browsers check
 * form-action against every redirect of a form submission, so the sign-in and consent forms of an authorization must
 * allow the client's origin besides 'self'. Nothing else changes.
 */
export function pageCsp(target?: string): string {
  const source = target === undefined ? undefined : cspSource(target);
  return source === undefined
    ? PAGE_CSP
    : PAGE_CSP.replace("form-action 'self'", `form-action 'self' ${source}`);
}

export const STYLESHEET_PATH = '/static/grantry.css';

/** The form_post page's script (src/oauth2/issuance/pages.ts): it only submits the page's form. */
export const FORM_POST_SCRIPT_PATH = '/static/form-post.js';

/**
 * Submits the form marked data-auto-submit, so response_mode=form_post goes on without a click; without JavaScript
 * the page's Continue button does the same. HTMLFormElement.prototype.submit, because a field named "submit" would
 * shadow form.submit.
 */
export const FORM_POST_SCRIPT = `'use strict';
(function () {
  var form = document.querySelector('form[data-auto-submit]');
  if (form) HTMLFormElement.prototype.submit.call(form);
})();
`;

export function html(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** The page around `main` (already HTML). `scripts`: paths on this origin, loaded deferred; none by default. */
export function layout(title: string, main: string, scripts: readonly string[] = []): string {
  const tags = scripts.map((src) => `<script src="${html(src)}" defer></script>\n`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${html(title)} · Grantry</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
<link rel="icon" href="data:,">
${tags}</head>
<body>
<main class="card">
<p class="brand" aria-hidden="true"><span class="mark">G</span> Grantry</p>
${main}
</main>
</body>
</html>
`;
}

export interface LoginPageInput {
  csrf: string;
  next: string | undefined;
  username?: string;
  error?: string;
}

export function loginPage(input: LoginPageInput): string {
  const error =
    input.error === undefined
      ? ''
      : `<p class="alert" role="alert" id="login-error">${html(input.error)}</p>\n`;
  const described = input.error === undefined ? '' : ' aria-describedby="login-error"';
  const next =
    input.next === undefined ? '' : `<input type="hidden" name="next" value="${html(input.next)}">\n`;
  // After a refusal the name is still filled in: the password is what to type next.
  const passwordFirst = (input.username ?? '') !== '';
  return layout(
    'Sign in',
    `<h1>Sign in</h1>
${error}<form method="post" action="/login/" novalidate>
<input type="hidden" name="csrf_token" value="${html(input.csrf)}">
${next}<div class="field">
<label for="username">Username or email</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required${passwordFirst ? '' : ' autofocus'} value="${html(input.username ?? '')}"${described}>
</div>
<div class="field">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${passwordFirst ? ' autofocus' : ''}${described}>
</div>
<button type="submit">Sign in</button>
</form>`,
  );
}

export interface AccountPageInput {
  username: string;
  name: string;
  email: string;
  signedInAt: Date;
  expires: Date;
  csrf: string;
}

export function accountPage(input: AccountPageInput): string {
  const email = input.email === '' ? '' : `<dt>Email</dt><dd>${html(input.email)}</dd>\n`;
  return layout(
    'Your account',
    `<h1>You are signed in</h1>
<dl class="facts">
<dt>Username</dt><dd>${html(input.username)}</dd>
${input.name === '' ? '' : `<dt>Name</dt><dd>${html(input.name)}</dd>\n`}${email}<dt>Signed in</dt><dd><time datetime="${input.signedInAt.toISOString()}">${html(formatTime(input.signedInAt))}</time></dd>
<dt>Session ends</dt><dd><time datetime="${input.expires.toISOString()}">${html(formatTime(input.expires))}</time></dd>
</dl>
<form method="post" action="/logout/">
<input type="hidden" name="csrf_token" value="${html(input.csrf)}">
<button type="submit" class="secondary">Sign out</button>
</form>`,
  );
}

/** A page that says what went wrong and where to go from here. */
export function messagePage(
  title: string,
  message: string,
  link = '/login/',
  linkText = 'Back to sign in',
): string {
  return layout(
    title,
    `<h1>${html(title)}</h1>
<p class="alert" role="alert">${html(message)}</p>
<p><a href="${html(link)}">${html(linkText)}</a></p>`,
  );
}

function formatTime(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export const STYLESHEET = `:root {
  color-scheme: light dark;
  --bg: #f4f5f7; --card: #ffffff; --text: #1d2330; --muted: #5b6475; --border: #d5d9e0;
  --accent: #3454d1; --accent-text: #ffffff; --danger-bg: #fdecec; --danger: #a4161a; --focus: #f59e0b;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #12151c; --card: #1b2029; --text: #e8ebf1; --muted: #a3acbd; --border: #343b49;
    --accent: #7b94ff; --accent-text: #0d1020; --danger-bg: #3a1719; --danger: #ffb4b4;
  }
}
* { box-sizing: border-box; }
html { font-size: 100%; }
body {
  margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
  padding: 1rem; background: var(--bg); color: var(--text);
  font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
.card {
  width: 100%; max-width: 24rem; background: var(--card); border: 1px solid var(--border);
  border-radius: 0.75rem; padding: 2rem 1.5rem; box-shadow: 0 10px 30px rgb(0 0 0 / 0.08);
}
.brand { display: flex; align-items: center; gap: 0.5rem; margin: 0 0 1.5rem; font-weight: 700; font-size: 1.1rem; }
.mark {
  display: inline-flex; align-items: center; justify-content: center; width: 2rem; height: 2rem;
  border-radius: 0.5rem; background: var(--accent); color: var(--accent-text); font-weight: 800;
}
h1 { font-size: 1.5rem; line-height: 1.25; margin: 0 0 1.25rem; }
.field { margin-bottom: 1rem; }
label { display: block; font-weight: 600; margin-bottom: 0.35rem; }
input[type="text"], input[type="password"] {
  width: 100%; padding: 0.65rem 0.75rem; font: inherit; color: inherit; background: var(--bg);
  border: 1px solid var(--border); border-radius: 0.5rem;
}
button {
  width: 100%; padding: 0.7rem 1rem; font: inherit; font-weight: 600; cursor: pointer;
  color: var(--accent-text); background: var(--accent); border: 1px solid var(--accent); border-radius: 0.5rem;
}
button.secondary { background: transparent; color: var(--text); border-color: var(--border); }
button:hover { filter: brightness(1.08); }
:focus-visible, input:focus { outline: 3px solid var(--focus); outline-offset: 2px; }
.alert {
  margin: 0 0 1rem; padding: 0.75rem 1rem; border-radius: 0.5rem;
  background: var(--danger-bg); color: var(--danger); border: 1px solid currentColor;
}
.facts { display: grid; grid-template-columns: auto 1fr; gap: 0.4rem 1rem; margin: 0 0 1.5rem; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
a { color: var(--accent); }
h2 { font-size: 1rem; line-height: 1.4; margin: 0 0 0.5rem; }
.lead { margin: 0 0 1.25rem; color: var(--muted); overflow-wrap: anywhere; }
.lead strong { color: var(--text); }
.notice {
  margin: 0 0 1rem; padding: 0.75rem 1rem; border-radius: 0.5rem;
  border: 1px solid var(--accent); border-left-width: 4px;
}
.scopes { list-style: none; margin: 0 0 1.5rem; padding: 0; border: 1px solid var(--border); border-radius: 0.5rem; }
.scopes li {
  display: flex; align-items: center; justify-content: space-between; gap: 0.75rem; padding: 0.6rem 0.75rem;
}
.scopes li + li { border-top: 1px solid var(--border); }
.scope-name { overflow-wrap: anywhere; }
.scope-id { display: block; color: var(--muted); font-size: 0.85rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.badge {
  flex: none; padding: 0.1rem 0.5rem; border-radius: 999px; font-size: 0.75rem; font-weight: 700;
  background: var(--accent); color: var(--accent-text);
}
.actions { display: flex; flex-wrap: wrap; gap: 0.75rem; }
.actions button { flex: 1 1 8rem; width: auto; }
`;
