import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList } from 'node:net';

import Router from '@koa/router';
import ipaddr from 'ipaddr.js';

import type { Config } from '../../config/index.ts';
import { AppError } from '../../errors.ts';
import type { Metrics } from '../../metrics.ts';

export interface MetricsRouteDeps {
  readonly config: Pick<Config, 'metrics'>;
  readonly metrics: Metrics;
}

/**
 * Prometheus scrapes /metrics. Its numbers describe the service, not people, but they still say
 * how busy it is and when: a scraper proves itself by its address (METRICS_ALLOWED_NETWORKS) or by
 * a bearer token (METRICS_TOKEN).
 */
export function metricsRoutes(deps: MetricsRouteDeps): Router {
  const router = new Router();
  const allowed = new BlockList();
  for (const cidr of deps.config.metrics.allowedNetworks) {
    const [network = '', prefix = ''] = cidr.split('/');
    allowed.addSubnet(network, Number(prefix), network.includes(':') ? 'ipv6' : 'ipv4');
  }
  const expectedToken = deps.config.metrics.token === null ? null : digest(deps.config.metrics.token);

  router.get('/metrics', async (ctx) => {
    const bearer = /^Bearer (\S+)$/.exec(ctx.get('authorization'))?.[1];
    const byToken = bearer !== undefined && expectedToken !== null && timingSafeEqual(digest(bearer), expectedToken);
    if (!byToken && !addressAllowed(ctx.ip, allowed)) {
      if (bearer !== undefined) throw new AppError('unauthorized', 'this token does not open /metrics', 401);
      throw new AppError('forbidden', '/metrics is open to the networks in METRICS_ALLOWED_NETWORKS, or with the bearer token in METRICS_TOKEN', 403);
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
  return router;
}

/** Equal-length digests, so that the comparison takes the same time whatever was sent. */
function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function addressAllowed(address: string, allowed: BlockList): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.process(address); // an IPv4-mapped IPv6 address becomes plain IPv4
  return allowed.check(parsed.toString(), parsed.kind());
}
