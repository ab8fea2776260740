import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

/** Which webhook URLs may be called (SPEC section 4, "Security of outgoing calls"). Pure. */

/** `*` (every http(s) URL) or the entries of ALLOWED_WEBHOOK_DOMAINS. */
export type AllowedDomains = '*' | string[];

/**
 * Parses ALLOWED_WEBHOOK_DOMAINS: entries trimmed and written as a URL writes its host (lowercase, punycode), so that
 * `bücher.example` matches `xn--bcher-kva.example`. Empty entries, and those that are no domain, are dropped; config
 * refuses the latter at start-up (invalidAllowedDomainEntries), so only empty ones are dropped in a running app.
 */
export function parseAllowedDomains(value: string | undefined): AllowedDomains {
  const entries = readEntries(value);
  return entries === '*' ? '*' : entries.map((e) => e.host).filter((host) => host !== '');
}

/** The non-empty entries of ALLOWED_WEBHOOK_DOMAINS that are no domain (`*.example.com`, a URL, a path, ...). */
export function invalidAllowedDomainEntries(value: string | undefined): string[] {
  const entries = readEntries(value);
  return entries === '*' ? [] : entries.filter((e) => e.host === '').map((e) => e.written);
}

/** `*`, or each non-empty entry as written (trimmed) and as a host (asciiEntry). */
function readEntries(value: string | undefined): '*' | Array<{ written: string; host: string }> {
  const text = (value ?? '').trim();
  if (text === '*') return '*';
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((written) => ({ written, host: asciiEntry(written) }));
}

/** ASCII in a name before IDNA mapping: letters, digits, `.`, `-` and `_` only; other code points are Unicode. */
const NAME_CHARACTERS = /^(?:[A-Za-z0-9._-]|[^\x00-\x7f])+$/;
/** After IDNA mapping: dot-separated labels, none empty, no wildcard (a domain already allows its subdomains). */
const ASCII_NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;

/**
 * The entry as a URL writes its host, its port (if any) kept; '' when it is no `name[:port]` or `[IPv6][:port]`.
 * Both checks are needed: domainToASCII cuts `example.com/path` to `example.com` and decodes `%2e`, yet keeps `*`.
 */
function asciiEntry(entry: string): string {
  const port = /:(\d{1,5})$/.exec(entry);
  if (port && (Number(port[1]) < 1 || Number(port[1]) > 65535)) return '';
  const name = port ? entry.slice(0, port.index) : entry;
  const ipv6 = /^\[.*\]$/.test(name);
  const ascii = ipv6 || NAME_CHARACTERS.test(name) ? domainToASCII(name) : '';
  return ascii !== '' && (ipv6 || ASCII_NAME.test(ascii)) ? ascii + (port?.[0] ?? '') : '';
}

/** Allowed when the host (with any non-default port) is an entry or a subdomain of one, over https (http: localhost only). */
export function isUrlAllowed(url: string, allowed: AllowedDomains): boolean {
  const parsed = parseUrl(url);
  if (parsed === null || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) return false;
  if (allowed === '*') return true;
  if (parsed.protocol === 'http:' && parsed.hostname !== 'localhost') return false;
  return allowed.some((entry) => parsed.host === entry || parsed.host.endsWith(`.${entry}`));
}

/** True when an entry names the URL's host or hostname exactly: the operator vouched for it, private or not. */
export function isHostNamedExplicitly(url: string, allowed: AllowedDomains): boolean {
  const parsed = parseUrl(url);
  if (parsed === null || allowed === '*') return false;
  return allowed.some((entry) => entry === parsed.host || entry === parsed.hostname);
}

/**
 * False for every address that is not globally reachable unicast: loopback, private, link-local, CGNAT, "this
 * network", multicast, broadcast, reserved, documentation and benchmarking ranges, IPv6 unique-local, site-local and
 * anything outside 2000::/3. IPv4 embedded in IPv6 (mapped, NAT64, 6to4) is judged as the IPv4 address.
 */
export function isPublicAddress(ip: string): boolean {
  const address = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  switch (isIP(address)) {
    case 4:
      return isPublicIpv4(ipv4ToNumber(address));
    case 6:
      return isPublicIpv6(ipv6ToWords(address));
    default:
      return false;
  }
}

/** IPv4 ranges that are not globally reachable, as [network, prefix length]. */
const IPV4_NON_PUBLIC: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // CGNAT shared space
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata lives here)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast included
];

const IPV4_RANGES = IPV4_NON_PUBLIC.map(([network, bits]) => {
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return { network: (ipv4ToNumber(network) & mask) >>> 0, mask };
});

function isPublicIpv4(value: number): boolean {
  return !IPV4_RANGES.some(({ network, mask }) => ((value & mask) >>> 0) === network);
}

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/** Words are the eight 16-bit groups of an IPv6 address. */
function isPublicIpv6(w: number[]): boolean {
  const embeddedV4 = (hi: number, lo: number): boolean => isPublicIpv4(hi * 0x10000 + lo);
  const zeros = (from: number, to: number): boolean => w.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && w[5] === 0xffff) return embeddedV4(w[6], w[7]); // ::ffff:a.b.c.d, IPv4-mapped
  if (w[0] === 0x64 && w[1] === 0xff9b && zeros(2, 6)) return embeddedV4(w[6], w[7]); // 64:ff9b::/96, NAT64
  if (w[0] === 0x2002) return embeddedV4(w[1], w[2]); // 2002::/16, 6to4
  if ((w[0] & 0xe000) !== 0x2000) return false; // outside 2000::/3: ::, ::1, fc00::/7, fe80::/10, ff00::/8, ...
  if (w[0] === 0x2001 && w[1] < 0x200) return false; // 2001::/23 IETF protocol assignments (Teredo, benchmarking)
  if (w[0] === 0x2001 && w[1] === 0xdb8) return false; // 2001:db8::/32 documentation
  if (w[0] === 0x3fff && w[1] < 0x1000) return false; // 3fff::/20 documentation
  return true;
}

function ipv6ToWords(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4ToNumber(dotted[1]);
    text = `${text.slice(0, dotted.index)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const parse = (part: string | undefined): number[] => (part ? part.split(':').map((h) => parseInt(h, 16)) : []);
  const front = parse(head);
  const back = parse(tail);
  const fill = tail === undefined ? [] : new Array<number>(8 - front.length - back.length).fill(0);
  return [...front, ...fill, ...back];
}

function parseUrl(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}
