import { BlockList, isIP } from 'node:net';

/**
 * Longest text taken for an address: an IPv6 address with an embedded IPv4 one (45), in brackets with a port (53),
 * and room for a short zone id. Anything longer is not an address and is not parsed (nor logged, nor a throttle key).
 */
const MAX_ADDRESS_LENGTH = 80;

const BRACKETED = /^\[([^\]]+)\](?::\d{1,5})?$/;
const IPV4_WITH_PORT = /^([0-9.]+):\d{1,5}$/;

/**
 * The IP address in one entry of X-Forwarded-For (or a socket's peer address), normalized, or undefined when it is
 * not one. Proxies write entries in several shapes: `203.0.113.9`, `203.0.113.9:40001` (with the client's port),
 * `[2001:db8::1]:443`, `[2001:db8::1]`, and a dual-stack socket reports IPv4 peers as `::ffff:203.0.113.9`. All of
 * those name one client, so all of them give one text: the port and brackets are dropped, an IPv4-mapped address
 * becomes the IPv4 address, and IPv6 is written canonically (RFC 5952: lower case, shortest form, no zone id).
 */
export function parseAddress(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.length === 0 || raw.length > MAX_ADDRESS_LENGTH) return undefined;
  const bracketed = BRACKETED.exec(raw)?.[1];
  const candidate = bracketed ?? IPV4_WITH_PORT.exec(raw)?.[1] ?? raw;
  const family = isIP(candidate);
  if (family === 4 && bracketed === undefined) return candidate;
  if (family !== 6) return undefined;
  const groups = ipv6Groups(candidate);
  if (groups === undefined) return undefined;
  return isIpv4Mapped(groups) ? ipv4From(groups) : formatIpv6(groups);
}

/** What the request's address and socket look like to clientAddress (Fastify's request, or a test's stand-in). */
export interface AddressedRequest {
  /** Fastify's client address: the right-most untrusted X-Forwarded-For hop, or the TCP peer. May be any text. */
  readonly ip?: string;
  readonly socket?: { readonly remoteAddress?: string } | null;
}

/**
 * The client's address as Grantry counts and logs it: the right-most untrusted X-Forwarded-For hop (Fastify applies
 * TRUSTED_PROXIES through trustedProxyCheck) when that hop is a valid address, else the TCP peer; `unknown` only when
 * even the peer is gone (a closed socket). A header value that is not an address is never used, so a client cannot
 * make up a fresh identity per request (`203.0.113.9:40001`, `:40002`, ...) or have garbage logged.
 */
export function clientAddress(request: AddressedRequest): string {
  return parseAddress(request.ip) ?? parseAddress(request.socket?.remoteAddress ?? undefined) ?? 'unknown';
}

/** proxy-addr's named ranges (TRUSTED_PROXIES accepts the same names as before). */
const NAMED_RANGES: Record<string, string[]> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/**
 * Fastify's trustProxy as a function: whether an X-Forwarded-For hop (or the TCP peer, hop 0) is one of the listed
 * proxies. A hop is parsed first, so a trusted proxy that appends its port (`10.0.0.2:51234`) is still recognised,
 * and a hop that is no address is never trusted (the walk stops there, and clientAddress falls back to the peer).
 * `entries` were validated by the configuration.
 */
export function trustedProxyCheck(entries: readonly string[]): (address: string, hop: number) => boolean {
  const list = new BlockList();
  for (const entry of entries.flatMap((e) => NAMED_RANGES[e] ?? [e])) {
    const slash = entry.indexOf('/');
    if (slash < 0) {
      const address = parseAddress(entry) ?? entry;
      list.addAddress(address, family(address));
    } else {
      const address = entry.slice(0, slash);
      list.addSubnet(address, Number(entry.slice(slash + 1)), family(address));
    }
  }
  return (address: string) => {
    const parsed = parseAddress(address);
    return parsed !== undefined && list.check(parsed, family(parsed));
  };
}

function family(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}

/**
 * The failed-auth throttle's key for a client address (from clientAddress). IPv4 addresses count alone. IPv6
 * addresses count by their /64, because one host or household usually holds a whole /64 and could otherwise rotate
 * through 2^64 fresh addresses; except where a /64 is not one site's: addresses in ::/64 (loopback `::1`, the
 * unspecified `::`) and link-local ones (everybody on a link is in fe80::/64) count alone, and NAT64's 64:ff9b::/96
 * counts as the IPv4 client it stands for.
 */
export function throttleBucket(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = ipv6Groups(address);
  if (groups === undefined) return address;
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0))
    return ipv4From(groups);
  const zeroPrefix = groups.slice(0, 4).every((g) => g === 0);
  const linkLocal = ((groups[0] ?? 0) & 0xffc0) === 0xfe80;
  if (zeroPrefix || linkLocal) return formatIpv6(groups);
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address that isIP accepted (an embedded IPv4 address is two groups). */
function ipv6Groups(address: string): number[] | undefined {
  const zone = address.indexOf('%');
  const bare = (zone < 0 ? address : address.slice(0, zone)).toLowerCase();
  const halves = bare.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string | undefined): number[] | undefined => {
    if (part === undefined || part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (group.includes('.')) {
        const octets = group.split('.').map(Number);
        if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255))
          return undefined;
        const [a = 0, b = 0, c = 0, d = 0] = octets;
        out.push((a << 8) | b, (c << 8) | d);
      } else if (/^[0-9a-f]{1,4}$/.test(group)) {
        out.push(parseInt(group, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  return [...head, ...Array<number>(missing).fill(0), ...tail];
}

/** ::ffff:0:0/96 */
function isIpv4Mapped(groups: number[]): boolean {
  return groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
}

function ipv4From(groups: number[]): string {
  const high = groups[6] ?? 0;
  const low = groups[7] ?? 0;
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/** RFC 5952: lower-case hex without leading zeros, the longest run of two or more zero groups (the first) as `::`. */
function formatIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
