/**
 * The device page (authentik's DeviceEntryView and the consent it leads to): server-rendered in the layout of the
 * login page, no script, every value from outside escaped by html().
 */
import { html, layout } from '../../../sessions/pages';
import { SCOPE_DESCRIPTIONS } from '../scope-descriptions';
import { displayUserCode } from './device-codes';

/** The one answer to every code that cannot be used, whatever the reason: nothing tells which codes exist. */
export const INVALID_CODE = 'Invalid or expired code. Check the code shown on your device and try again.';
export const THROTTLED_CODE = 'Too many invalid codes. Wait a few minutes and try again.';

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
<p class="lead">Signed in as <strong>${html(input.username)}</strong>.</p>
<p id="code-hint">Enter the code your device shows.</p>
${error}<form method="post" action="/device" novalidate>
<input type="hidden" name="csrf_token" value="${html(input.csrf)}">
<div class="field">
<label for="code">Code</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="off" autocapitalize="none" spellcheck="false" required autofocus value="${html(input.code ?? '')}" aria-describedby="${described}">
</div>
<button type="submit">Continue</button>
</form>`,
  );
}

export interface DeviceConfirmPageInput {
  csrf: string;
  username: string;
  userCode: string;
  applicationName: string;
  scopes: readonly string[];
}

/** A requested scope as the consent page lists it: authentik's description, and the scope's name under it. */
function scopeItem(scope: string): string {
  const description = SCOPE_DESCRIPTIONS[scope] ?? '';
  const label =
    description === ''
      ? `<code>${html(scope)}</code>`
      : `${html(description)}<code class="scope-id">${html(scope)}</code>`;
  return `<li><span class="scope-name">${label}</span></li>`;
}

/**
 * authentik's consent for a device, in the consent page's look: the application, the code to compare with the
 * device's screen, the scopes it asked for, and Allow / Deny in one form (the `decision` field, as on the consent
 * page).
 */
export function deviceConfirmPage(input: DeviceConfirmPageInput): string {
  const app = html(input.applicationName);
  const list =
    input.scopes.length === 0
      ? `<p>${app} asks only to know that you signed in.</p>\n`
      : `<h2 id="requested">${app} asks for</h2>
<ul class="scopes" aria-labelledby="requested">
${input.scopes.map(scopeItem).join('\n')}
</ul>
`;
  return layout(
    `Connect ${input.applicationName}`,
    `<h1>Connect ${app} on your device?</h1>
<p class="lead">You're about to sign into ${app} on a device, as <strong>${html(input.username)}</strong>.</p>
<dl class="facts">
<dt>Code</dt><dd>${html(displayUserCode(input.userCode))}</dd>
</dl>
<p class="notice">Allow only if you started this yourself and your device shows this code.</p>
${list}<form method="post" action="/device">
<input type="hidden" name="csrf_token" value="${html(input.csrf)}">
<input type="hidden" name="code" value="${html(input.userCode)}">
<div class="actions">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</div>
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
