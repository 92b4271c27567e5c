import { clientAddress, parseAddress, throttleBucket, trustedProxyCheck } from './client-address';

describe('parseAddress', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['203.0.113.9:40001', '203.0.113.9'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8:0000:0042:0000:8a2e:0370:7334', '2001:db8:0:42:0:8a2e:370:7334'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:192.0.2.1', '192.0.2.1'],
    ['::ffff:c000:201', '192.0.2.1'],
    ['[::ffff:192.0.2.1]:8080', '192.0.2.1'],
    ['::1', '::1'],
    ['::', '::'],
    ['fe80::1%eth0', 'fe80::1'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
  ])('%s -> %s', (raw, address) => {
    expect(parseAddress(raw)).toBe(address);
  });

  it.each([
    ['garbage', 'not-an-address'],
    ['an 8,000-character value', 'x'.repeat(8000)],
    ['a long run of digits and dots', `1.2.3.4${'.5'.repeat(100)}`],
    ['a host name', 'proxy.example.com'],
    ['a host name with a port', 'proxy.example.com:8080'],
    ['IPv4 with a bad port', '203.0.113.9:http'],
    ['IPv4 with two ports', '203.0.113.9:1:2'],
    ['unbracketed IPv6 with a port', '2001:db8::1:443:80:1:2:3:4'],
    ['an IPv4 octet out of range', '203.0.113.256'],
    ['IPv4 with leading zeros', '010.0.0.1'],
    ['brackets around IPv4', '[203.0.113.9]:80'],
    ['empty', ''],
    ['unknown (Forwarded-style)', 'unknown'],
    ['a CIDR', '10.0.0.0/8'],
    ['two colons twice', '1::2::3'],
    ['surrounding space', ' 203.0.113.9'],
  ])('%s: undefined', (_name, raw) => {
    expect(parseAddress(raw)).toBeUndefined();
  });
});

describe('clientAddress', () => {
  it('is the parsed address Fastify found, or else the TCP peer', () => {
    expect(clientAddress({ ip: '203.0.113.9:40001', socket: { remoteAddress: '127.0.0.1' } })).toBe(
      '203.0.113.9',
    );
    expect(clientAddress({ ip: 'x'.repeat(8000), socket: { remoteAddress: '::ffff:127.0.0.1' } })).toBe(
      '127.0.0.1',
    );
    expect(clientAddress({ ip: undefined, socket: { remoteAddress: '2001:db8::7' } })).toBe('2001:db8::7');
    expect(clientAddress({ ip: 'garbage', socket: null })).toBe('unknown');
  });
});

describe('throttleBucket', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['127.0.0.1', '127.0.0.1'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:db8:0:42:0:8a2e:370:7334', '2001:db8:0:42::/64'],
    ['1:2:3:4:5:6:7:0', '1:2:3:4::/64'],
    ['::1', '::1'],
    ['::', '::'],
    ['::2', '::2'],
    ['fe80::1', 'fe80::1'],
    ['fe80::2', 'fe80::2'],
    ['febf::1', 'febf::1'],
    ['fec0::1', 'fec0:0:0:0::/64'],
    ['fd00:1:2:3::4', 'fd00:1:2:3::/64'],
    ['64:ff9b::c000:201', '192.0.2.1'],
    ['64:ff9b:1::c000:201', '64:ff9b:1:0::/64'],
  ])('%s -> %s', (address, bucket) => {
    expect(throttleBucket(address)).toBe(bucket);
  });
});

describe('trustedProxyCheck', () => {
  const trusted = trustedProxyCheck(['loopback', '10.9.0.0/16', '192.0.2.99', 'fd00::/8']);

  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['10.9.3.3', true],
    ['10.9.3.3:51234', true],
    ['10.10.0.1', false],
    ['192.0.2.99', true],
    ['192.0.2.98', false],
    ['[fd12::1]:443', true],
    ['fe80::1', false],
    ['203.0.113.9', false],
    ['garbage', false],
    ['127.0.0.1.evil', false],
  ])('%s: %s', (address, expected) => {
    expect(trusted(address, 0)).toBe(expected);
  });

  it('named ranges: linklocal and uniquelocal', () => {
    const check = trustedProxyCheck(['linklocal', 'uniquelocal']);
    expect(
      ['169.254.1.1', 'fe80::1', '10.1.2.3', '172.31.0.1', '192.168.1.1', 'fc00::1'].map((a) => check(a, 0)),
    ).toEqual([true, true, true, true, true, true]);
    expect(['172.32.0.1', '127.0.0.1', '8.8.8.8'].map((a) => check(a, 0))).toEqual([false, false, false]);
  });
});
