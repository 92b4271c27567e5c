import { createHash } from 'node:crypto';
import { AvatarResolver, avatarSettingError, initials, initialsAvatar, NO_AVATAR } from './avatar';

const subject = {
  username: 'jdoe',
  name: 'Jane Q. Doe',
  email: ' Jane@Example.com ',
  attributes: { pic: { url: 'https://x/y.png' } },
};

describe('avatars', () => {
  it.each([
    [{ name: 'Jane Q. Doe', username: 'x' }, 'JD'],
    [{ name: 'cher', username: 'x' }, 'CH'],
    [{ name: '', username: 'akadmin' }, 'AK'],
    [{ name: 'émile zola', username: 'x' }, 'ÉZ'],
  ])('initials of %j are %s', (input, expected) => {
    expect(initials(input)).toBe(expected);
  });

  it('renders an SVG data URI with the initials', () => {
    const uri = initialsAvatar(subject);
    expect(uri.startsWith('data:image/svg+xml;base64,')).toBe(true);
    const svg = Buffer.from(uri.split(',')[1] ?? '', 'base64').toString();
    expect(svg).toContain('>JD</text>');
    expect(initialsAvatar(subject)).toBe(uri);
  });

  it.each([
    // sha256('Jane Q. Doe') starts 0x5a: 90 % 10 = 0, the first colour; sha256('akadmin') starts 0xcb: 203 % 10 = 3.
    [{ name: 'Jane Q. Doe', username: 'x' }, 'JD', '#2563eb'],
    [{ name: '', username: 'akadmin' }, 'AK', '#059669'],
    [{ name: 'Tom & <Jerry>', username: 'x' }, 'T&lt;', '#7c3aed'], // 0xb5: 181 % 10 = 1; escaped
  ])('the SVG of %j, written out', (input, text, fill) => {
    const svg = Buffer.from(initialsAvatar(input).replace(/^data:image\/svg\+xml;base64,/, ''), 'base64');
    expect(svg.toString('utf8')).toBe(
      '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">' +
        `<circle cx="32" cy="32" r="32" fill="${fill}"/>` +
        '<text x="50%" y="50%" dy=".35em" fill="#ffffff" font-family="sans-serif" font-size="28" ' +
        `text-anchor="middle">${text}</text></svg>`,
    );
  });

  it('tries modes in order', () => {
    expect(new AvatarResolver('none').resolve(subject)).toBe(NO_AVATAR);
    expect(new AvatarResolver('attributes.pic.url,initials').resolve(subject)).toBe('https://x/y.png');
    expect(new AvatarResolver('attributes.missing,initials').resolve(subject)).toBe(initialsAvatar(subject));
    const mailHash = createHash('md5').update('jane@example.com').digest('hex');
    expect(new AvatarResolver('gravatar').resolve(subject)).toBe(
      `https://www.gravatar.com/avatar/${mailHash}?size=158&rating=g&default=404`,
    );
    expect(new AvatarResolver('https://img.example.com/%(username)s.png').resolve(subject)).toBe(
      'https://img.example.com/jdoe.png',
    );
  });

  it('validates the setting', () => {
    expect(avatarSettingError('gravatar,initials')).toBeUndefined();
    expect(avatarSettingError('foo')).toBe(
      'has an unknown mode "foo" (use none, initials, gravatar, attributes.<path> or an http(s) URL template)',
    );
  });
});
