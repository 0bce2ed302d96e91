import { randomUUID } from 'node:crypto';

import type { Context, Next } from 'koa';

import { requestLineLogger, type Logger } from '../logger.ts';

const acceptableRequestId = /^[A-Za-z0-9._-]{8,128}$/;

/**
 * Gives every request an id (a trusted proxy's X-Request-Id, or a new UUID), returns it in the
 * response, and logs one line per request. The id also appears on error pages, so a person can
 * quote it to the helpdesk.
 */
export function requestContext(logger: Logger, trustProxy: boolean) {
  const requestLog = requestLineLogger(logger);
  return async function assignRequestId(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('x-request-id');
    const requestId = trustProxy && acceptableRequestId.test(incoming) ? incoming : randomUUID();
    ctx.state['requestId'] = requestId;
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      const onDone = () =>
        requestLog.info(
          { requestId, method: ctx.method, path: ctx.path, status: ctx.res.statusCode, ms: Math.round(performance.now() - started) },
          'request',
        );
      // Requests handed to oidc-provider finish on the raw response, after Koa's chain returns.
      if (ctx.res.writableFinished || ctx.respond !== false) onDone();
      else ctx.res.once('finish', onDone);
    }
  };
}
