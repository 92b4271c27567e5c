import { performance } from 'node:perf_hooks';
import type { AppConfig } from '../../config/config';

interface Window {
  /** Monotonic milliseconds when this address's current window began (at its first failure). */
  start: number;
  failures: number;
}

/**
 * Counts failed authentications per client address and throttles an address that made `limit` of them within one
 * window (which starts at its first failure).
 *
 * While an address is throttled, every request of it that presents a key is refused before the key is looked up,
 * valid keys included: answering a valid key normally would tell a guesser which of its guesses was right, which is
 * all a brute force needs. The price is that users behind the same NAT as a guesser wait out the window (at most
 * AUTH_FAILURE_WINDOW_SECONDS); behind a reverse proxy, TRUSTED_PROXIES keeps them apart. Successful
 * authentications neither count nor reset the count, so a guesser cannot launder its failures through one good key.
 *
 * Memory is bounded: at most `maxAddresses` windows are kept. The map is ordered by window start (a new window is
 * re-inserted at the end), so expired windows are dropped from the front as failures arrive, and when the map is
 * full the oldest window, the one closest to expiry, is forgotten first.
 */
export class AuthFailureThrottle {
  private readonly windows = new Map<string, Window>();
  private readonly windowMs: number;

  constructor(
    private readonly limit: number,
    windowSeconds: number,
    private readonly maxAddresses: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.windowMs = windowSeconds * 1000;
  }

  static fromConfig(config: AppConfig): AuthFailureThrottle {
    return new AuthFailureThrottle(
      config.authFailureLimit,
      config.authFailureWindowSeconds,
      config.authFailureMaxAddresses,
    );
  }

  get enabled(): boolean {
    return this.limit > 0;
  }

  /** How many addresses are remembered now (for tests and metrics). */
  get size(): number {
    return this.windows.size;
  }

  /**
   * Whole seconds until the client may present a key again; 0 when it is not throttled. Takes the request rather
   * than its address so that the common case, nobody failing lately, costs one comparison: behind a trusted proxy,
   * `ip` parses X-Forwarded-For on every read.
   */
  retryAfter(client: { readonly ip: string }): number {
    if (this.windows.size === 0) return 0;
    const window = this.windows.get(throttleKey(client.ip));
    if (window === undefined || window.failures < this.limit) return 0;
    const remaining = window.start + this.windowMs - this.now();
    return remaining > 0 ? Math.ceil(remaining / 1000) : 0;
  }

  recordFailure(client: { readonly ip: string }): void {
    if (this.limit <= 0) return;
    const now = this.now();
    this.forgetExpired(now);
    const key = throttleKey(client.ip);
    const window = this.windows.get(key);
    if (window !== undefined) {
      if (now - window.start < this.windowMs) {
        window.failures += 1;
        return;
      }
      this.windows.delete(key);
    } else if (this.windows.size >= this.maxAddresses) {
      const oldest = this.windows.keys().next();
      if (oldest.done !== true) this.windows.delete(oldest.value);
    }
    this.windows.set(key, { start: now, failures: 1 });
  }

  private forgetExpired(now: number): void {
    for (const [key, window] of this.windows) {
      if (now - window.start < this.windowMs) return;
      this.windows.delete(key);
    }
  }
}

/**
 * What the throttle counts by. IPv4 addresses (also when written IPv4-mapped, `::ffff:192.0.2.1`) count alone; IPv6
 * addresses count by their /64, because one host or household usually holds a whole /64 and could otherwise
 * rotate through 2^64 fresh addresses.
 */
export function throttleKey(address: string): string {
  if (!address.includes(':')) return address;
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7);
  const prefix = ipv6Prefix64(lower);
  return prefix ?? lower;
}

/** The first four groups of an IPv6 address as `a:b:c:d::/64`, or undefined when it is not one. */
function ipv6Prefix64(address: string): string | undefined {
  const zone = address.indexOf('%');
  const bare = zone < 0 ? address : address.slice(0, zone);
  const halves = bare.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string | undefined): string[] | undefined => {
    if (part === undefined || part === '') return [];
    const out: string[] = [];
    for (const group of part.split(':')) {
      // An embedded IPv4 address (::1.2.3.4, 64:ff9b::1.2.3.4) stands for the last two groups.
      if (group.includes('.')) out.push('0', '0');
      else if (/^[0-9a-f]{1,4}$/.test(group)) out.push(group);
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<string>(missing).fill('0'), ...tail];
  return `${all
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
