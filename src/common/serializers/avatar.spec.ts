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
