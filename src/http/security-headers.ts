import helmet, { type HelmetOptions } from 'helmet';
import type { Middleware } from 'koa';

/**
 * helmet's headers on every response. helmet is a connect-style middleware that sets its headers
 * and calls back before it returns, so it is called straight from Koa: wrapping it in a promise
 * per request (as koa-helmet does) cost a promise and a closure on every request, a few
 * microseconds on the token endpoint's busiest path.
 */
export function securityHeaders(options: Readonly<HelmetOptions>): Middleware {
  const setHeaders = helmet(options);
  return function setSecurityHeaders(ctx, next) {
    let done = false;
    let failure: Error | undefined;
    setHeaders(ctx.req, ctx.res, (error?: unknown) => {
      done = true;
      // helmet reports only Errors (a directive's value it refuses).
      if (error !== undefined) failure = error instanceof Error ? error : new Error('helmet refused to set a security header');
    });
    // Never seen: a later helmet that answered asynchronously would otherwise send responses
    // without the headers, silently.
    if (!done) throw new Error('helmet did not set the security headers before returning');
    if (failure !== undefined) throw failure;
    return next();
  };
}
