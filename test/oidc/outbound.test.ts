import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlockList } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createOutboundFetch, outboundAddressPermitted } from '../../src/oidc/outbound.ts';

function allowList(...networks: [address: string, prefix: number, family: 'ipv4' | 'ipv6'][]): BlockList {
  const list = new BlockList();
  for (const [address, prefix, family] of networks) list.addSubnet(address, prefix, family);
  return list;
}

const nothingAllowed = new BlockList();

describe('outboundAddressPermitted', () => {
  it.each(['8.8.8.8', '203.113.131.1', '2001:4860:4860::8888', '2606:4700:4700::1111'])('allows the public address %s', (address) => {
    expect(outboundAddressPermitted(address, nothingAllowed)).toBe(true);
  });

  const special: [address: string, network: [string, number, 'ipv4' | 'ipv6']][] = [
    ['127.0.0.1', ['127.0.0.0', 8, 'ipv4']],
    ['::1', ['::1', 128, 'ipv6']],
    ['10.1.2.3', ['10.0.0.0', 8, 'ipv4']],
    ['192.168.1.1', ['192.168.0.0', 16, 'ipv4']],
    ['172.16.5.4', ['172.16.0.0', 12, 'ipv4']],
    ['169.254.169.254', ['169.254.0.0', 16, 'ipv4']],
    ['::ffff:127.0.0.1', ['127.0.0.0', 8, 'ipv4']],
    ['fd00::1', ['fd00::', 8, 'ipv6']],
    ['0.0.0.0', ['0.0.0.0', 8, 'ipv4']],
  ];

  it.each(special)('refuses %s when no private network is allowed', (address) => {
    expect(outboundAddressPermitted(address, nothingAllowed)).toBe(false);
  });

  it.each(special)('allows %s when its network is allowed', (address, network) => {
    expect(outboundAddressPermitted(address, allowList(network))).toBe(true);
  });

  it('refuses the cloud metadata address although another private network is allowed', () => {
    const intranet = allowList(['10.0.0.0', 8, 'ipv4'], ['192.168.0.0', 16, 'ipv4']);
    expect(outboundAddressPermitted('10.20.30.40', intranet)).toBe(true);
    expect(outboundAddressPermitted('169.254.169.254', intranet)).toBe(false);
    expect(outboundAddressPermitted('127.0.0.1', intranet)).toBe(false);
  });

  it('refuses loopback written as an IPv4-mapped IPv6 address unless loopback is allowed', () => {
    expect(outboundAddressPermitted('::ffff:127.0.0.1', allowList(['10.0.0.0', 8, 'ipv4']))).toBe(false);
    expect(outboundAddressPermitted('::ffff:7f00:1', nothingAllowed)).toBe(false);
  });

  it.each(['', 'not-an-address', 'localhost', '999.1.1.1', '1.2.3.4.5', '::g'])('refuses the garbage %j', (address) => {
    expect(outboundAddressPermitted(address, nothingAllowed)).toBe(false);
  });
});

describe('special-use IPv6 ranges that ipaddr.js calls unicast', () => {
  it('refuses local-use NAT64 (64:ff9b:1::/48), which can reach the private IPv4 network behind it', () => {
    expect(outboundAddressPermitted('64:ff9b:1::a00:1', new BlockList())).toBe(false);
  });
});

describe('createOutboundFetch', () => {
  let server: http.Server;
  let url: string;
  let connections = 0;

  beforeAll(async () => {
    server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('reached');
    });
    server.on('connection', () => (connections += 1));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/backchannel`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reaches a local server when loopback is among the allowed networks', async () => {
    const response = await createOutboundFetch(['127.0.0.0/8'])(url, { method: 'GET' });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('reached');
  });

  /** Why fetch failed: undici wraps the connector's error as the cause of a TypeError. */
  async function refusalOf(fetching: ReturnType<ReturnType<typeof createOutboundFetch>>): Promise<string> {
    const failure: unknown = await fetching.then(
      () => new Error('the request went through'),
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(TypeError);
    return String((failure as TypeError).cause);
  }

  it('refuses to connect to a local server when no private network is allowed', async () => {
    expect(await refusalOf(createOutboundFetch([])(url, { method: 'GET' }))).toContain('outbound connection to 127.0.0.1 refused');
  });

  it('refuses to connect to a local server when only other private networks are allowed', async () => {
    const fetching = createOutboundFetch(['10.0.0.0/8', '::1/128'])(url, { method: 'GET' });
    expect(await refusalOf(fetching)).toContain('outbound connection to 127.0.0.1 refused');
  });

  it('refuses a host name that resolves to loopback, because the check is on the resolved address', async () => {
    const fetching = createOutboundFetch([])(url.replace('127.0.0.1', 'localhost'), { method: 'GET' });
    expect(await refusalOf(fetching)).toContain('not a public address and not in OUTBOUND_ALLOWED_NETWORKS');
  });

  it('refuses an IPv6 literal in brackets, naming the address', async () => {
    const fetching = createOutboundFetch([])(url.replace('127.0.0.1', '[::1]'), { method: 'GET' });
    expect(await refusalOf(fetching)).toContain('outbound connection to ::1 refused');
  });

  it('refuses before connecting: a forbidden address never sees a single byte', async () => {
    const before = connections;
    await refusalOf(createOutboundFetch([])(url, { method: 'POST', body: 'logout_token=x' }));
    await refusalOf(createOutboundFetch([])(url.replace('127.0.0.1', 'localhost'), { method: 'POST', body: 'logout_token=x' }));
    expect(connections).toBe(before);
  });
});
