import dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

import ipaddr from 'ipaddr.js';
import { Agent, buildConnector, fetch } from 'undici';

/** Special-use networks that ipaddr.js reports as ordinary unicast. */
const alsoSpecialUse = new BlockList();
alsoSpecialUse.addSubnet('64:ff9b:1::', 48, 'ipv6'); // local-use NAT64 (RFC 8215)

/**
 * Outbound HTTP from the provider (back-channel logout, clients' JWKS) goes to addresses that
 * developers registered. To keep that from becoming a way to probe the server's own network, a
 * connection may reach a public address, or a private, loopback or other special-use one only when
 * it falls in an allowed network (OUTBOUND_ALLOWED_NETWORKS). Names are checked as they resolve,
 * before any byte is sent; the connected socket's address is checked again, so DNS tricks cannot
 * get around it.
 */
export function createOutboundFetch(allowedNetworks: readonly string[]) {
  const allowed = new BlockList();
  for (const cidr of allowedNetworks) {
    const [address = '', prefix = ''] = cidr.split('/');
    allowed.addSubnet(address, Number(prefix), isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }
  const refusal = (address: string) =>
    new Error(`outbound connection to ${address} refused: not a public address and not in OUTBOUND_ALLOWED_NETWORKS`);

  const lookup: LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      const permitted = addresses.filter((entry) => outboundAddressPermitted(entry.address, allowed));
      if (permitted.length === 0) {
        callback(refusal(addresses[0]?.address ?? hostname), '', 0);
        return;
      }
      if (options.all) callback(null, permitted);
      else callback(null, permitted[0]!.address, permitted[0]!.family);
    });
  };

  const connect = buildConnector({ lookup });
  const dispatcher = new Agent({
    connect(options, callback) {
      // An address written in the URL is never looked up: check it here, before connecting.
      const literal = options.hostname.replace(/^\[|\]$/g, '');
      if (isIP(literal) && !outboundAddressPermitted(literal, allowed)) {
        callback(refusal(literal), null);
        return;
      }
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
        callback(refusal(address), null);
      });
    },
  });

  return (url: URL | string, options: Parameters<typeof fetch>[1]) => fetch(url, { ...options, dispatcher });
}

export function outboundAddressPermitted(address: string, allowed: BlockList): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.process(address); // IPv4-mapped IPv6 becomes plain IPv4
  const normalized = parsed.toString();
  if (allowed.check(normalized, parsed.kind())) return true;
  return parsed.range() === 'unicast' && !alsoSpecialUse.check(normalized, parsed.kind());
}
