import { BlockList, isIP } from 'node:net';

import ipaddr from 'ipaddr.js';
import { Agent, buildConnector, fetch } from 'undici';

/**
 * Outbound HTTP from the provider (back-channel logout, clients' JWKS) goes to addresses that
 * developers registered. To keep that from becoming a way to probe the server's own network, a
 * connection may reach a public address, or a private, loopback or other special-use one only when
 * it falls in an allowed network (OUTBOUND_ALLOWED_NETWORKS). The check runs on the connected
 * socket's address, so DNS tricks cannot get around it.
 */
export function createOutboundFetch(allowedNetworks: readonly string[]) {
  const allowed = new BlockList();
  for (const cidr of allowedNetworks) {
    const [address = '', prefix = ''] = cidr.split('/');
    allowed.addSubnet(address, Number(prefix), isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }

  const connect = buildConnector({});
  const dispatcher = new Agent({
    connect(options, callback) {
      connect(options, (error, socket) => {
        if (error) {
          callback(error, null);
          return;
        }
        const address = socket.remoteAddress ?? '';
        if (outboundAddressPermitted(address, allowed)) {
          callback(null, socket);
          return;
        }
        socket.destroy();
        callback(new Error(`outbound connection to ${address} refused: not a public address and not in OUTBOUND_ALLOWED_NETWORKS`), null);
      });
    },
  });

  return (url: URL | string, options: Parameters<typeof fetch>[1]) => fetch(url, { ...options, dispatcher });
}

export function outboundAddressPermitted(address: string, allowed: BlockList): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.process(address); // IPv4-mapped IPv6 becomes plain IPv4
  if (parsed.range() === 'unicast') return true;
  return allowed.check(parsed.toString(), parsed.kind());
}
