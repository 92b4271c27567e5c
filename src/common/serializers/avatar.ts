import { createHash } from 'node:crypto';
import { memoize } from './memo';

export interface AvatarSubject {
  username: string;
  name: string;
  email: string;
  attributes: Record<string, unknown>;
}

/** authentik's value for the `none` mode. */
export const NO_AVATAR = '/static/dist/assets/images/user_default.png';

const GRAVATAR = 'https://www.gravatar.com/avatar/%(mail_hash)s?size=158&rating=g&default=404';
const PALETTE = [
  '#2563eb',
  '#7c3aed',
  '#db2777',
  '#059669',
  '#dc2626',
  '#0d9488',
  '#d97706',
  '#4f46e5',
  '#0891b2',
  '#65a30d',
];

/** Up to two initials: first and last word of the display name (or the username), upper-cased. */
export function initials(subject: Pick<AvatarSubject, 'name' | 'username'>): string {
  const words = (subject.name.trim() || subject.username).split(/\s+/).filter(Boolean);
  const first = words[0] ?? '?';
  const chars =
    words.length > 1
      ? [...first][0] + ([...(words[words.length - 1] ?? '')][0] ?? '')
      : [...first].slice(0, 2).join('');
  return chars.toUpperCase();
}

function escapeXml(value: string): string {
  return value.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c,
  );
}

export function initialsAvatar(subject: Pick<AvatarSubject, 'name' | 'username'>): string {
  return initialsAvatarOf(`${subject.name}\u0000${subject.username}`);
}

/** The SVG for `name NUL username`, memoized: every page of grants shows the same users again. */
const initialsAvatarOf = memoize((key: string): string => {
  const [name = '', username = ''] = key.split('\u0000');
  const subject = { name, username };
  const text = initials(subject);
  const digest = createHash('sha256')
    .update(subject.name || subject.username)
    .digest();
  const background = PALETTE[(digest[0] ?? 0) % PALETTE.length] ?? PALETTE[0];
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">` +
    `<circle cx="32" cy="32" r="32" fill="${background}"/>` +
    `<text x="50%" y="50%" dy=".35em" fill="#ffffff" font-family="sans-serif" font-size="28" text-anchor="middle">${escapeXml(text)}</text>` +
    `</svg>`;
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
});

function fillTemplate(template: string, subject: AvatarSubject): string {
  const mailHash = createHash('md5').update(subject.email.trim().toLowerCase(), 'utf8').digest('hex');
  const upn = typeof subject.attributes.upn === 'string' ? subject.attributes.upn : '';
  return template
    .replace(/%\(mail_hash\)s/g, mailHash)
    .replace(/%\(username\)s/g, encodeURIComponent(subject.username))
    .replace(/%\(upn\)s/g, encodeURIComponent(upn));
}

function attributeAt(attributes: Record<string, unknown>, path: string): unknown {
  let current: unknown = attributes;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/**
 * authentik's AVATARS setting: a comma-separated list of modes tried in order until one gives a value: `none`,
 * `initials`, `gravatar`, `attributes.<path>`, or a URL template with %(username)s, %(mail_hash)s, %(upn)s.
 * Unlike authentik, Grantry never makes a network request to check that a URL exists.
 */
export class AvatarResolver {
  private readonly modes: string[];

  constructor(setting: string) {
    this.modes = setting
      .split(',')
      .map((mode) => mode.trim())
      .filter(Boolean);
    if (this.modes.length === 0) this.modes = ['initials'];
  }

  resolve(subject: AvatarSubject): string {
    for (const mode of this.modes) {
      if (mode === 'none') return NO_AVATAR;
      if (mode === 'initials') return initialsAvatar(subject);
      if (mode === 'gravatar') {
        if (subject.email) return fillTemplate(GRAVATAR, subject);
        continue;
      }
      if (mode.startsWith('attributes.')) {
        const value = attributeAt(subject.attributes, mode.slice('attributes.'.length));
        if (typeof value === 'string' && value !== '') return value;
        continue;
      }
      if (/^https?:\/\//.test(mode)) return fillTemplate(mode, subject);
    }
    return NO_AVATAR;
  }
}

/** Validates the AVATARS setting at start-up. Returns an error message, or undefined when valid. */
export function avatarSettingError(setting: string): string | undefined {
  for (const mode of setting.split(',').map((m) => m.trim())) {
    if (mode === '' || ['none', 'initials', 'gravatar'].includes(mode)) continue;
    if (/^attributes\.[A-Za-z0-9_.-]+$/.test(mode)) continue;
    if (/^https?:\/\//.test(mode)) continue;
    return `has an unknown mode "${mode}" (use none, initials, gravatar, attributes.<path> or an http(s) URL template)`;
  }
  return undefined;
}
