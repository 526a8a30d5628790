import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export class UnsafeEndpointError extends Error {
  constructor(readonly rule: string) {
    super(rule);
    this.name = 'UnsafeEndpointError';
  }
}

/** An IPv6 address with its dotted-quad tail (`::a.b.c.d`) written as two hex groups. */
function hexTail(address: string): string {
  return address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a: string, b: string, c: string, d: string) => {
    const group = (high: string, low: string) => ((Number(high) << 8) | Number(low)).toString(16);
    return `${group(a, b)}:${group(c, d)}`;
  });
}

/** The address as ipaddr.js sees it, IPv4-mapped IPv6 (::ffff:a.b.c.d) as the IPv4 address it stands for. */
function parsed(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  // isIP first: ipaddr.js also reads octal, hex and short IPv4 forms, which no socket or resolver hands us; and it
  // reads any `::a.b.c.d` as IPv4-mapped, so the tail is rewritten in hex to keep ::/96 apart from ::ffff:0:0/96
  if (isIP(address) === 0) {
    return undefined;
  }
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address.includes(':') ? hexTail(address) : address);
  } catch {
    return undefined;
  }
  return ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() ? (ip as ipaddr.IPv6).toIPv4Address() : ip;
}

// ::/96 (IPv4-compatible, RFC 4291 §2.5.5.1) is deprecated but still routed to the embedded IPv4 by some stacks
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');

/**
 * True when a webhook may not connect to this IP address: anything ipaddr.js does not class as plain `unicast`
 * (private, loopback, link-local, CGNAT, multicast, reserved, ...). 6to4, Teredo and NAT64 are not `unicast`
 * either, so addresses that tunnel to an embedded IPv4 address are refused outright.
 */
export function isForbiddenAddress(address: string): boolean {
  const ip = parsed(address);
  if (!ip) {
    return true;
  }
  if (ip.kind() === 'ipv6' && ip.match(IPV4_COMPATIBLE)) {
    return true;
  }
  return ip.range() !== 'unicast';
}

/** SUBSCRIPTION_ENDPOINT_ALLOWLIST: host names (exact) and IP addresses or CIDRs that are exempt from the rules. */
export class EndpointAllowlist {
  private readonly hosts = new Set<string>();
  private readonly networks = new BlockList();

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [network, prefix] = entry.split('/');
      const family = isIP(network);
      if (family === 0) {
        this.hosts.add(entry.toLowerCase());
      } else if (prefix === undefined) {
        this.networks.addAddress(network, family === 4 ? 'ipv4' : 'ipv6');
      } else {
        this.networks.addSubnet(network, Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
      }
    }
  }

  allowsHost(hostname: string): boolean {
    const host = bareHost(hostname).toLowerCase();
    return this.hosts.has(host) || (isIP(host) !== 0 && this.allowsAddress(host));
  }

  allowsAddress(address: string): boolean {
    const ip = parsed(address);
    return ip !== undefined && this.networks.check(ip.toString(), ip.kind());
  }
}

/** URL.hostname keeps the brackets of an IPv6 literal; sockets and DNS want them off. */
export const bareHost = (hostname: string): string => hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * Checks the parts of an endpoint URL that need no DNS: absolute, https (unless allow-listed), no credentials.
 * `field` names the URL in messages (a client's jwks_uri goes through the same rules as a webhook endpoint).
 */
export function checkEndpointUrl(endpoint: string, allowlist: EndpointAllowlist, field = 'channel.endpoint'): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UnsafeEndpointError(`${field} "${endpoint}" is not an absolute URL`);
  }
  if (url.username || url.password) {
    throw new UnsafeEndpointError(
      `${field} may not carry credentials${field === 'channel.endpoint' ? '; use channel.header' : ''}`,
    );
  }
  const allowed = allowlist.allowsHost(url.hostname);
  if (url.protocol !== 'https:' && !(allowed && url.protocol === 'http:')) {
    throw new UnsafeEndpointError(`${field} must use https (got ${url.protocol.replace(':', '')})`);
  }
  return url;
}

/** Resolves a host and refuses it when any of its addresses is forbidden (unless allow-listed). */
export async function resolveSafeAddresses(
  hostname: string,
  allowlist: EndpointAllowlist,
  field = 'channel.endpoint',
): Promise<LookupAddress[]> {
  const host = bareHost(hostname);
  const addresses =
    isIP(host) !== 0
      ? [{ address: host, family: isIP(host) }]
      : await new Promise<LookupAddress[]>((resolve, reject) =>
          dnsLookup(host, { all: true }, (error, found) => (error ? reject(error) : resolve(found))),
        );
  if (allowlist.allowsHost(host)) {
    return addresses;
  }
  for (const { address } of addresses) {
    if (isForbiddenAddress(address) && !allowlist.allowsAddress(address)) {
      throw new UnsafeEndpointError(
        `${field} host ${host} resolves to ${address}, a private, loopback, link-local or otherwise ` +
          `non-public address that ${field === 'channel.endpoint' ? 'webhooks' : 'this server'} may not reach`,
      );
    }
  }
  return addresses;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net/tls.connect that only ever hands back checked addresses, so the socket connects to exactly
 * what was validated (DNS rebinding cannot slip in between check and connect); TLS SNI and Host keep the name.
 */
export function safeLookup(allowlist: EndpointAllowlist, field = 'channel.endpoint') {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    resolveSafeAddresses(hostname, allowlist, field).then(
      (addresses) => {
        if (options.all) {
          callback(null, addresses);
        } else {
          callback(null, addresses[0].address, addresses[0].family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}
