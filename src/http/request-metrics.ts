import type { Context, Next } from 'koa';

import type { Metrics } from '../metrics.ts';
import { providerPaths } from '../oidc/provider-paths.ts';

/**
 * Times every request, labelled by route pattern (never by raw path: ids and uids would make a
 * label per request). Requests served by oidc-provider finish on the raw response, so the time is
 * taken when the response is done.
 */
export function measureRequests(metrics: Metrics) {
  return async function timeRequest(ctx: Context, next: Next): Promise<void> {
    const stop = metrics.httpDuration.startTimer();
    const observe = () => {
      const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      const route = typeof matched === 'string' ? matched : providerPaths.has(ctx.path) ? ctx.path : 'other';
      stop({ method: ctx.method, route, status: String(ctx.res.statusCode) });
    };
    ctx.res.once('close', observe);
    await next();
  };
}
