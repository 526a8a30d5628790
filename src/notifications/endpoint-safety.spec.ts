import { EndpointAllowlist, checkEndpointUrl, isForbiddenAddress, resolveSafeAddresses } from './endpoint-safety.js';

describe('endpoint safety', () => {
  it.each([
    ['loopback', '127.0.0.1'],
    ['loopback, anywhere in 127/8', '127.255.0.7'],
    ['private 10/8', '10.0.0.5'],
    ['private 172.16/12', '172.16.9.1'],
    ['private 192.168/16', '192.168.1.1'],
    ['link-local, the cloud metadata service', '169.254.169.254'],
    ['CGNAT 100.64/10', '100.64.0.1'],
    ['CGNAT 100.64/10, its top', '100.127.255.254'],
    ['multicast', '224.0.0.1'],
    ['broadcast', '255.255.255.255'],
    ['reserved 240/4', '240.0.0.1'],
    ['benchmarking 198.18/15', '198.18.0.1'],
    ['this network 0.0.0.0', '0.0.0.0'],
    ['IPv6 unspecified ::', '::'],
    ['IPv6 loopback ::1', '::1'],
    ['IPv4-compatible ::127.0.0.1 (::/96)', '::127.0.0.1'],
    ['IPv4-compatible ::8.8.8.8 (::/96, deprecated)', '::8.8.8.8'],
    ['IPv4-mapped ::ffff:127.0.0.1', '::ffff:127.0.0.1'],
    ['IPv4-mapped ::ffff:10.0.0.1 in hex', '::ffff:a00:1'],
    ['6to4 of loopback 2002:7f00:1::', '2002:7f00:1::'],
    ['6to4 of a public address', '2002:808:808::1'],
    ['Teredo', '2001:0:4136:e378:8000:63bf:3fff:fdd2'],
    ['NAT64 of loopback 64:ff9b::7f00:1', '64:ff9b::7f00:1'],
    ['NAT64 of a public address', '64:ff9b::808:808'],
    ['local-use NAT64 64:ff9b:1::/48', '64:ff9b:1::a00:1'],
    ['unique local fc00::/7', 'fc00::1'],
    ['unique local, the fd00:ec2::254 metadata service', 'fd00:ec2::254'],
    ['link-local fe80::/10', 'fe80::1'],
    ['link-local with a zone', 'fe80::1%eth0'],
    ['IPv6 multicast', 'ff02::1'],
    ['IPv6 documentation 2001:db8::/32', '2001:db8::1'],
    ['not an address', 'example.org'],
    ['an IPv4 address in octal, which isIP refuses', '0177.0.0.1'],
  ])('refuses %s (%s)', (_label, address) => {
    expect(isForbiddenAddress(address)).toBe(true);
  });

  it.each([
    ['a public IPv4 address', '8.8.8.8'],
    ['a public IPv4 address next to CGNAT', '100.128.0.1'],
    ['a public IPv4 address', '151.101.1.140'],
    ['a public IPv6 address', '2a00:1450:4009:81f::200e'],
    ['a public IPv4 address, IPv4-mapped', '::ffff:8.8.8.8'],
  ])('accepts %s (%s)', (_label, address) => {
    expect(isForbiddenAddress(address)).toBe(false);
  });

  it('requires https unless the host is allow-listed', () => {
    const none = new EndpointAllowlist([]);
    expect(() => checkEndpointUrl('http://example.org/hook', none)).toThrow(/https/);
    expect(() => checkEndpointUrl('https://user:pw@example.org/hook', none)).toThrow(/credentials/);
    expect(checkEndpointUrl('https://example.org/hook', none).hostname).toBe('example.org');
    expect(checkEndpointUrl('http://localhost:9/hook', new EndpointAllowlist(['localhost'])).protocol).toBe('http:');
  });

  it('exempts allow-listed hosts and CIDRs from the address rules', async () => {
    await expect(resolveSafeAddresses('10.1.2.3', new EndpointAllowlist([]))).rejects.toThrow(/non-public/);
    await expect(resolveSafeAddresses('10.1.2.3', new EndpointAllowlist(['10.0.0.0/8']))).resolves.toHaveLength(1);
    await expect(resolveSafeAddresses('[::1]', new EndpointAllowlist(['::1']))).resolves.toHaveLength(1);
    await expect(resolveSafeAddresses('localhost', new EndpointAllowlist([]))).rejects.toThrow(/non-public/);
  });

  it('refuses the IPv6 literals that embed loopback, as URL hosts', async () => {
    const none = new EndpointAllowlist([]);
    for (const endpoint of ['https://[::127.0.0.1]/', 'https://[2002:7f00:1::]/', 'https://[::ffff:127.0.0.1]/']) {
      const url = checkEndpointUrl(endpoint, none);
      await expect(resolveSafeAddresses(url.hostname, none)).rejects.toThrow(/non-public/);
    }
  });

  it('applies an allow-listed IPv4 CIDR to the IPv4-mapped form of its addresses', () => {
    const allowlist = new EndpointAllowlist(['10.0.0.0/8']);
    expect(allowlist.allowsAddress('::ffff:10.1.2.3')).toBe(true);
    expect(allowlist.allowsAddress('::ffff:11.1.2.3')).toBe(false);
  });
});
