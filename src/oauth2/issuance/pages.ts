import { FORM_POST_SCRIPT_PATH, html, layout, PAGE_CSP } from '../../sessions/pages';

/**
 * The pages of the authorize endpoint: consent, access denied, the errors authentik shows as a page rather than a
 * redirect, and the response_mode=form_post page. In the look and under the CSP of the sign-in pages
 * (src/sessions/pages.ts); only the form_post page loads a script, from this origin, and works without it.
 */

export interface ConsentPageScope {
  /** The scope as requested (`email`). */
  name: string;
  /** What it gives the application (SCOPE_DESCRIPTIONS); "" shows the scope by its name. */
  description: string;
}

export interface ConsentPageInput {
  applicationName: string;
  /** Who is signed in. */
  username: string;
  scopes: ConsentPageScope[];
  /** The scopes of the user's current stored consent; those requested beyond them are marked as new. */
  alreadyConsented: string[];
  csrf: string;
  /** The authorize request, carried through the form. */
  hidden: Record<string, string>;
  /** Where the form posts (this origin). */
  action: string;
}

/**
 * Fields the form itself sets. A hidden field of the same name would come first in the body, and a reader taking
 * the first value would see it instead: `decision=allow` smuggled in through the authorize query would turn a click
 * on Deny into consent. Such fields are left out.
 */
const RESERVED_FIELDS = new Set(['csrf_token', 'decision']);

function hiddenInputs(fields: Record<string, string>, reserved: ReadonlySet<string>): string {
  return Object.entries(fields)
    .filter(([name]) => !reserved.has(name))
    .map(([name, value]) => `<input type="hidden" name="${html(name)}" value="${html(value)}">\n`)
    .join('');
}

function scopeItem(scope: ConsentPageScope, isNew: boolean): string {
  const label =
    scope.description === ''
      ? `<code>${html(scope.name)}</code>`
      : `${html(scope.description)}<code class="scope-id">${html(scope.name)}</code>`;
  return `<li><span class="scope-name">${label}</span>${isNew ? '<span class="badge">New</span>' : ''}</li>`;
}

/** "Allow <app> to use your account?": the requested scopes, and Allow / Deny in one form. */
export function consentPage(input: ConsentPageInput): string {
  const app = html(input.applicationName);
  const previously = new Set(input.alreadyConsented);
  const marking = previously.size > 0;
  const items = input.scopes.map((scope) => scopeItem(scope, marking && !previously.has(scope.name)));
  const notice = marking
    ? `<p class="notice">${app} asks for more than you allowed before. What is new is marked “New”.</p>\n`
    : '';
  const list =
    items.length === 0
      ? `<p>${app} asks only to know that you signed in.</p>\n`
      : `<h2 id="requested">${app} asks for</h2>
<ul class="scopes" aria-labelledby="requested">
${items.join('\n')}
</ul>
`;
  return layout(
    'Allow access',
    `<h1>Allow ${app} to use your account?</h1>
<p class="lead">Signed in as <strong>${html(input.username)}</strong>.</p>
${notice}${list}<form method="post" action="${html(input.action)}">
${hiddenInputs(input.hidden, RESERVED_FIELDS)}<input type="hidden" name="csrf_token" value="${html(input.csrf)}">
<div class="actions">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</div>
</form>`,
  );
}

/** The page for a signed-in user the application is not open to (answer it with 403). */
export function accessDeniedPage(input: { applicationName: string }): string {
  return layout(
    'Access denied',
    `<h1>Access denied</h1>
<p class="alert" role="alert">You do not have access to ${html(input.applicationName)}.</p>
<p>Ask an administrator to add you to one of its groups.</p>
<p><a href="/account/">Your account</a></p>`,
  );
}

/**
 * An authorize error that cannot be sent back to the client, because the client or its redirect URI is not known
 * (authentik's bad_request_message, titled "Client ID Error" or "Redirect URI Error"; answer it with 400).
 */
export function authorizeErrorPage(input: {
  title: 'Client ID Error' | 'Redirect URI Error' | (string & {});
  message: string;
}): string {
  return layout(
    input.title,
    `<h1>${html(input.title)}</h1>
<p class="alert" role="alert">${html(input.message)}</p>
<p>Go back to the application and try again, or tell its administrator.</p>`,
  );
}

/**
 * response_mode=form_post: the response as hidden fields of a form posting to the client's redirect URI. A script
 * from this origin (FORM_POST_SCRIPT_PATH) submits it at once; without JavaScript the Continue button does. Serve it
 * with formPostCsp(action).
 */
export function formPostPage(input: { action: string; fields: Record<string, string> }): string {
  let target: string;
  try {
    target = new URL(input.action).host;
  } catch {
    target = input.action;
  }
  return layout(
    'Continue',
    `<h1>Continue to the application</h1>
<p class="lead">Sending the result of your sign-in to <strong>${html(target)}</strong>.</p>
<form method="post" action="${html(input.action)}" data-auto-submit>
${hiddenInputs(input.fields, new Set())}<button type="submit">Continue</button>
</form>`,
    [FORM_POST_SCRIPT_PATH],
  );
}

/** A redirect URI whose origin a CSP source expression cannot name (see formPostCsp). */
export class FormPostTargetError extends Error {}

// CSP host-source: host-char = ALPHA / DIGIT / "-", in dot-separated labels; no IPv6 literals.
const CSP_HOST = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;

/**
 * The form_post page's CSP: PAGE_CSP with form-action allowing exactly the redirect URI's origin instead of 'self',
 * and script-src 'self' for FORM_POST_SCRIPT_PATH (no inline script). Throws FormPostTargetError for a URI whose
 * origin cannot be written as a source expression (not http(s), an IPv6 literal, a host with characters WHATWG URL
 * lets through but CSP has no syntax for such as ";"), rather than widen the policy or let the value break out of
 * it; show the Redirect URI Error page then.
 */
export function formPostCsp(action: string): string {
  let url: URL;
  try {
    url = new URL(action);
  } catch {
    throw new FormPostTargetError(`redirect URI "${action}" is not an absolute URL`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !CSP_HOST.test(url.hostname)) {
    throw new FormPostTargetError(`redirect URI "${action}" cannot be named in a Content-Security-Policy`);
  }
  return PAGE_CSP.replace("form-action 'self'", `form-action ${url.origin}`).replace(
    "default-src 'none';",
    "default-src 'none'; script-src 'self';",
  );
}
