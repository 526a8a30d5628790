import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/** Address ranges a webhook may never reach: the server's own network, cloud metadata and non-unicast space. */
const FORBIDDEN = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // unspecified / "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, includes the 169.254.169.254 metadata service
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved and broadcast
] as const) {
  FORBIDDEN.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128],
  ['fc00::', 7], // unique local, includes the fd00:ec2::254 metadata service
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96], // NAT64 can wrap any IPv4 address
] as const) {
  FORBIDDEN.addSubnet(network, prefix, 'ipv6');
}

export class UnsafeEndpointError extends Error {
  constructor(readonly rule: string) {
    super(rule);
    this.name = 'UnsafeEndpointError';
  }
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), if it is one. */
function unmapped(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address;
}

/** True when a webhook may not connect to this IP address (private, loopback, link-local, metadata, ...). */
export function isForbiddenAddress(address: string): boolean {
  const ip = unmapped(address);
  const family = isIP(ip);
  if (family === 0) {
    return true;
  }
  return FORBIDDEN.check(ip, family === 4 ? 'ipv4' : 'ipv6');
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
    const ip = unmapped(address);
    const family = isIP(ip);
    return family !== 0 && this.networks.check(ip, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** URL.hostname keeps the brackets of an IPv6 literal; sockets and DNS want them off. */
export const bareHost = (hostname: string): string => hostname.replace(/^\[(.*)\]$/, '$1');

/** Checks the parts of an endpoint URL that need no DNS: absolute, https (unless allow-listed), no credentials. */
export function checkEndpointUrl(endpoint: string, allowlist: EndpointAllowlist): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UnsafeEndpointError(`channel.endpoint "${endpoint}" is not an absolute URL`);
  }
  if (url.username || url.password) {
    throw new UnsafeEndpointError('channel.endpoint may not carry credentials; use channel.header');
  }
  const allowed = allowlist.allowsHost(url.hostname);
  if (url.protocol !== 'https:' && !(allowed && url.protocol === 'http:')) {
    throw new UnsafeEndpointError(`channel.endpoint must use https (got ${url.protocol.replace(':', '')})`);
  }
  return url;
}

/** Resolves a host and refuses it when any of its addresses is forbidden (unless allow-listed). */
export async function resolveSafeAddresses(hostname: string, allowlist: EndpointAllowlist): Promise<LookupAddress[]> {
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
        `channel.endpoint host ${host} resolves to ${address}, a private, loopback, link-local or otherwise ` +
          'non-public address that webhooks may not reach',
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
export function safeLookup(allowlist: EndpointAllowlist) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    resolveSafeAddresses(hostname, allowlist).then(
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
