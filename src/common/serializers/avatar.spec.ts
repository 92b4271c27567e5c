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

describe('avatars, mode by mode', () => {
  const palette = [
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
  const svgOf = (uri: string): string => {
    expect(uri.startsWith('data:image/svg+xml;base64,')).toBe(true);
    return Buffer.from(uri.slice('data:image/svg+xml;base64,'.length), 'base64').toString('utf8');
  };
  const colourOf = (text: string): string =>
    palette[(createHash('sha256').update(text).digest()[0] ?? 0) % 10] ?? '';

  it.each([
    [{ name: 'x', username: 'y' }, 'X'],
    [{ name: '   ', username: 'zed' }, 'ZE'],
    [{ name: '  ada   byron  king ', username: 'y' }, 'AK'],
    [{ name: '', username: '' }, '?'],
    [{ name: '😀smile', username: 'y' }, '😀S'],
  ])('initials of %j are %s', (input, expected) => {
    expect(initials(input)).toBe(expected);
  });

  it('writes the whole SVG: a circle in a colour picked by the name, the initials centred', () => {
    const svg = svgOf(initialsAvatar({ name: 'Jane Doe', username: 'jdoe' }));
    expect(svg).toBe(
      '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">' +
        `<circle cx="32" cy="32" r="32" fill="${colourOf('Jane Doe')}"/>` +
        '<text x="50%" y="50%" dy=".35em" fill="#ffffff" font-family="sans-serif" font-size="28" ' +
        'text-anchor="middle">JD</text></svg>',
    );
    // Without a name the username picks the colour.
    expect(svgOf(initialsAvatar({ name: '', username: 'akadmin' }))).toContain(
      `fill="${colourOf('akadmin')}"/>`,
    );
  });

  it('escapes the initials for XML', () => {
    expect(svgOf(initialsAvatar({ name: '<x >y', username: 'u' }))).toContain('>&lt;&gt;</text>');
    expect(svgOf(initialsAvatar({ name: '&x "y', username: 'u' }))).toContain('>&amp;&quot;</text>');
    expect(svgOf(initialsAvatar({ name: "'x", username: 'u' }))).toContain('>&apos;X</text>');
  });

  it('fills every placeholder of a URL template, each as often as it occurs', () => {
    const person = {
      username: 'j doe/1',
      name: 'J',
      email: 'J@Example.com',
      attributes: { upn: 'j@corp.example' },
    };
    const hash = createHash('md5').update('j@example.com').digest('hex');
    expect(
      new AvatarResolver(
        'https://img.example.com/%(username)s/%(mail_hash)s/%(upn)s/%(username)s?h=%(mail_hash)s&u=%(upn)s',
      ).resolve(person),
    ).toBe(
      `https://img.example.com/j%20doe%2F1/${hash}/j%40corp.example/j%20doe%2F1?h=${hash}&u=j%40corp.example`,
    );
    expect(new AvatarResolver('http://img/%(upn)s').resolve({ ...person, attributes: { upn: 7 } })).toBe(
      'http://img/',
    );
  });

  it('falls through modes that give nothing, to the default image at the end', () => {
    const person = { username: 'u', name: 'N', email: '', attributes: { a: { b: '' }, list: ['x'], s: 'v' } };
    expect(new AvatarResolver('gravatar').resolve(person)).toBe(NO_AVATAR);
    expect(new AvatarResolver('gravatar,none').resolve(person)).toBe(NO_AVATAR);
    expect(new AvatarResolver('gravatar,attributes.s').resolve(person)).toBe('v');
    expect(new AvatarResolver('attributes.a.b,attributes.s').resolve(person)).toBe('v');
    expect(new AvatarResolver('attributes.a,attributes.s').resolve(person)).toBe('v');
    expect(new AvatarResolver('attributes.list.0,attributes.s').resolve(person)).toBe('v');
    expect(new AvatarResolver('attributes.s.x,attributes.missing.deep').resolve(person)).toBe(NO_AVATAR);
    expect(new AvatarResolver('unknown,ftp://x/%(username)s').resolve(person)).toBe(NO_AVATAR);
    expect(new AvatarResolver('unknown,initials').resolve(person)).toBe(initialsAvatar(person));
  });

  it('an empty setting means initials', () => {
    const person = { username: 'u', name: 'N', email: '', attributes: {} };
    expect(new AvatarResolver('').resolve(person)).toBe(initialsAvatar(person));
    expect(new AvatarResolver(' , ').resolve(person)).toBe(initialsAvatar(person));
    expect(new AvatarResolver(' none , initials').resolve(person)).toBe(NO_AVATAR);
  });

  it.each([
    ['', undefined],
    ['none', undefined],
    [' none , initials , gravatar ', undefined],
    ['attributes.a.b_c-D9', undefined],
    ['https://x/%(username)s', undefined],
    ['http://x', undefined],
    ['attributes.', 'attributes.'],
    ['attributes.a b', 'attributes.a b'],
    ['xattributes.a', 'xattributes.a'],
    ['ftp://x', 'ftp://x'],
    ['xhttp://x', 'xhttp://x'],
    ['gravatar,Initials', 'Initials'],
  ])('AVATARS=%j', (setting, unknown) => {
    expect(avatarSettingError(setting)).toBe(
      unknown === undefined
        ? undefined
        : `has an unknown mode "${unknown}" (use none, initials, gravatar, attributes.<path> or an http(s) URL template)`,
    );
  });
});

describe('avatars: attribute paths and URL modes at their edges', () => {
  const person = { username: 'u', name: 'N', email: 'n@example.com', attributes: { a: null, s: 'v' } };

  it('an attribute path through null gives nothing, and the next mode is tried', () => {
    expect(new AvatarResolver('attributes.a.b,attributes.s').resolve(person)).toBe('v');
    expect(new AvatarResolver('attributes.a,none').resolve(person)).toBe(NO_AVATAR);
  });

  it('only a mode that starts with http:// or https:// is a URL template', () => {
    expect(new AvatarResolver('xhttps://img/%(username)s').resolve(person)).toBe(NO_AVATAR);
    expect(new AvatarResolver('http:/img/%(username)s,attributes.s').resolve(person)).toBe('v');
    expect(new AvatarResolver('https://img/%(username)s').resolve(person)).toBe('https://img/u');
  });
});
