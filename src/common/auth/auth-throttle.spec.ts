import { AuthFailureThrottle, throttleKey } from './auth-throttle';

const at = (ip: string) => ({ ip });

describe('AuthFailureThrottle', () => {
  let now: number;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  it('throttles an address once it reached the limit within the window, for the rest of that window', () => {
    const throttle = new AuthFailureThrottle(3, 60, 100, clock);
    for (let i = 0; i < 3; i += 1) {
      expect(throttle.retryAfter(at('192.0.2.1'))).toBe(0);
      throttle.recordFailure(at('192.0.2.1'));
      now += 1000;
    }
    // The window began at the first failure, 3 s ago: 57 s remain.
    expect(throttle.retryAfter(at('192.0.2.1'))).toBe(57);
    now += 500;
    expect(throttle.retryAfter(at('192.0.2.1'))).toBe(57); // 56.5 s, rounded up
    now += 56_499;
    expect(throttle.retryAfter(at('192.0.2.1'))).toBe(1);
    now += 1;
    expect(throttle.retryAfter(at('192.0.2.1'))).toBe(0);
  });

  it('starts a new window after the old one expired', () => {
    const throttle = new AuthFailureThrottle(2, 10, 100, clock);
    throttle.recordFailure(at('192.0.2.1'));
    now += 10_000;
    throttle.recordFailure(at('192.0.2.1'));
    expect(throttle.retryAfter(at('192.0.2.1'))).toBe(0);
    now += 9_000;
    throttle.recordFailure(at('192.0.2.1'));
    expect(throttle.retryAfter(at('192.0.2.1'))).toBe(1);
  });

  it('counts each address on its own', () => {
    const throttle = new AuthFailureThrottle(1, 60, 100, clock);
    throttle.recordFailure(at('192.0.2.1'));
    expect(throttle.retryAfter(at('192.0.2.1'))).toBe(60);
    expect(throttle.retryAfter(at('192.0.2.2'))).toBe(0);
  });

  it('counts an IPv6 /64 as one address, and an IPv4-mapped address as the IPv4 one', () => {
    const throttle = new AuthFailureThrottle(2, 60, 100, clock);
    throttle.recordFailure(at('2001:db8:1:2::1'));
    throttle.recordFailure(at('2001:DB8:1:2:ffff:ffff:ffff:ffff'));
    expect(throttle.retryAfter(at('2001:db8:1:2::abcd'))).toBe(60);
    expect(throttle.retryAfter(at('2001:db8:1:3::1'))).toBe(0);
    throttle.recordFailure(at('::ffff:192.0.2.9'));
    throttle.recordFailure(at('192.0.2.9'));
    expect(throttle.retryAfter(at('192.0.2.9'))).toBe(60);
  });

  it('is off with a limit of 0', () => {
    const throttle = new AuthFailureThrottle(0, 60, 100, clock);
    for (let i = 0; i < 1000; i += 1) throttle.recordFailure(at('192.0.2.1'));
    expect(throttle.retryAfter(at('192.0.2.1'))).toBe(0);
    expect(throttle.size).toBe(0);
    expect(throttle.enabled).toBe(false);
  });

  it('remembers at most maxAddresses, forgetting the oldest window first', () => {
    const throttle = new AuthFailureThrottle(1, 60, 3, clock);
    for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) {
      throttle.recordFailure(at(ip));
      now += 1;
    }
    throttle.recordFailure(at('10.0.0.4'));
    expect(throttle.size).toBe(3);
    expect(throttle.retryAfter(at('10.0.0.1'))).toBe(0);
    for (const ip of ['10.0.0.2', '10.0.0.3', '10.0.0.4']) expect(throttle.retryAfter(at(ip))).toBe(60);
  });

  it('stays bounded under a flood of distinct addresses, and forgets expired windows as failures arrive', () => {
    const throttle = new AuthFailureThrottle(5, 60, 1000, clock);
    for (let i = 0; i < 100_000; i += 1)
      throttle.recordFailure(at(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
    expect(throttle.size).toBe(1000);
    now += 60_000;
    throttle.recordFailure(at('192.0.2.1'));
    expect(throttle.size).toBe(1);
  });

  it('a failure after a window expired moves the address to the back of the eviction order', () => {
    const throttle = new AuthFailureThrottle(1, 10, 2, clock);
    throttle.recordFailure(at('10.0.0.1'));
    now += 5_000;
    throttle.recordFailure(at('10.0.0.2'));
    now += 6_000; // 10.0.0.1's window expired, 10.0.0.2's has 4 s left
    throttle.recordFailure(at('10.0.0.1'));
    now += 1;
    throttle.recordFailure(at('10.0.0.3')); // full: evicts 10.0.0.2, the oldest window
    expect(throttle.retryAfter(at('10.0.0.1'))).toBe(10);
    expect(throttle.retryAfter(at('10.0.0.2'))).toBe(0);
    expect(throttle.retryAfter(at('10.0.0.3'))).toBe(10);
  });
});

describe('throttleKey', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:192.0.2.1', '192.0.2.1'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0db8:0000:0042:0000:8a2e:0370:7334', '2001:db8:0:42::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['1:2:3:4:5:6:7::', '1:2:3:4::/64'],
    ['not-an-address', 'not-an-address'],
    ['1:2:3', '1:2:3'],
    ['1::2::3', '1::2::3'],
  ])('%s -> %s', (address, key) => {
    expect(throttleKey(address)).toBe(key);
  });
});
