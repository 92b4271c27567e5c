/**
 * The device page (authentik's DeviceEntryView and the consent it leads to): server-rendered in the layout of the
 * login page, no script, every value from outside escaped by html().
 */
import { html, layout } from '../../../sessions/pages';
import { displayUserCode } from './device-codes';

/** The one answer to every code that cannot be used, whatever the reason: nothing tells which codes exist. */
export const INVALID_CODE = 'Invalid or expired code. Check the code shown on your device and try again.';
export const THROTTLED_CODE = 'Too many invalid codes. Wait a few minutes and try again.';

/**
 * What the confirmation says each scope gives the application: the `description` of authentik's default scope
 * mappings (blueprints/system/providers-oauth2.yaml), word for word, as on the consent page (the consent work keeps
 * the same list in src/oauth2/issuance/scope-descriptions.ts; one of the two should go when both are merged).
 * `openid` has no description there; it is shown by its name.
 */
const SCOPE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  openid: '',
  email: 'Email address',
  profile: 'General Profile Information',
  entitlements: 'Application entitlements',
  offline_access: 'Access to request new tokens without interaction',
  'goauthentik.io/api': 'authentik API Access on behalf of your user',
};

export interface DeviceCodePageInput {
  csrf: string;
  username: string;
  /** What to show in the field: the `code` of the URL, or what was typed. */
  code?: string;
  error?: string;
}

/** The form a person types the code from their device into. */
export function deviceCodePage(input: DeviceCodePageInput): string {
  const error =
    input.error === undefined
      ? ''
      : `<p class="alert" role="alert" id="code-error">${html(input.error)}</p>\n`;
  const described = input.error === undefined ? 'code-hint' : 'code-error code-hint';
  return layout(
    'Connect a device',
    `<h1>Connect a device</h1>
<p id="code-hint">Enter the code your device shows.</p>
${error}<form method="post" action="/device" novalidate>
<input type="hidden" name="csrf_token" value="${html(input.csrf)}">
<div class="field">
<label for="code">Code</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="off" autocapitalize="none" spellcheck="false" required autofocus value="${html(input.code ?? '')}" aria-describedby="${described}">
</div>
<button type="submit">Continue</button>
</form>
<p>Signed in as ${html(input.username)}.</p>`,
  );
}

export interface DeviceConfirmPageInput {
  csrf: string;
  username: string;
  userCode: string;
  applicationName: string;
  scopes: readonly string[];
}

/** authentik's consent for a device: the application, the scopes it asked for, Allow or Deny. */
export function deviceConfirmPage(input: DeviceConfirmPageInput): string {
  const scopes = input.scopes
    .map((scope) => `<li>${html(SCOPE_DESCRIPTIONS[scope] || scope)}</li>`)
    .join('\n');
  const asks =
    input.scopes.length === 0
      ? '<p>It asks for no access beyond signing you in.</p>'
      : `<p>It will get:</p>\n<ul>\n${scopes}\n</ul>`;
  return layout(
    `Connect ${input.applicationName}`,
    `<h1>Connect ${html(input.applicationName)}?</h1>
<p>You're about to sign into ${html(input.applicationName)} on a device, as ${html(input.username)}.</p>
${asks}
<dl class="facts">
<dt>Code</dt><dd>${html(displayUserCode(input.userCode))}</dd>
</dl>
<p>Allow only if you started this yourself and your device shows this code.</p>
<form method="post" action="/device">
<input type="hidden" name="csrf_token" value="${html(input.csrf)}">
<input type="hidden" name="code" value="${html(input.userCode)}">
<div class="field"><button type="submit" name="action" value="allow">Allow</button></div>
<button type="submit" name="action" value="deny" class="secondary">Deny</button>
</form>`,
  );
}

/** The end of the flow: what happened, and that there is nothing more to do here. */
export function deviceDonePage(outcome: 'approved' | 'denied', applicationName: string): string {
  const [title, message] =
    outcome === 'approved'
      ? ['Device connected', `${applicationName} is connected. You can return to your device.`]
      : ['Device not connected', `${applicationName} was not given access. You can close this page.`];
  return layout(
    title,
    `<h1>${html(title)}</h1>
<p role="status">${html(message)}</p>
<p><a href="/device">Connect another device</a></p>`,
  );
}
