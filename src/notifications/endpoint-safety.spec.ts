import { EndpointAllowlist, checkEndpointUrl, isForbiddenAddress, resolveSafeAddresses } from './endpoint-safety.js';

describe('endpoint safety', () => {
  it.each([
    '127.0.0.1',
    '10.0.0.5',
    '172.16.9.1',
    '192.168.1.1',
    '100.64.0.1',
    '169.254.169.254',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'fd00:ec2::254',
    'fc00::1',
    'ff02::1',
    '::ffff:127.0.0.1',
  ])('refuses the non-public address %s', (address) => {
    expect(isForbiddenAddress(address)).toBe(true);
  });

  it.each(['8.8.8.8', '151.101.1.140', '2a00:1450:4009:81f::200e'])('accepts the public address %s', (address) => {
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
});
