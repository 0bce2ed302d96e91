import type { AddressInfo } from 'node:net';

import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';

import { securityHeaders } from '../../src/http/security-headers.ts';

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function serve(app: Koa): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('helmet called straight from Koa', () => {
  it('sets the headers before the next middleware runs, and removes X-Powered-By', async () => {
    const app = new Koa();
    const seenByNext: (string | undefined)[] = [];
    app.use((ctx, next) => {
      ctx.res.setHeader('X-Powered-By', 'Koa');
      return next();
    });
    app.use(securityHeaders({ contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"] } }, referrerPolicy: { policy: 'no-referrer' } }));
    app.use((ctx) => {
      seenByNext.push(ctx.response.get('content-security-policy'));
      ctx.body = { ok: true };
    });
    const response = await fetch(await serve(app));
    expect(response.status).toBe(200);
    expect(seenByNext).toEqual(["default-src 'none'"]);
    expect(response.headers.get('content-security-policy')).toBe("default-src 'none'");
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-powered-by')).toBeNull();
  });

  it('fails the request, and serves nothing, when helmet reports an error', async () => {
    // A directive computed per request that would inject another directive: helmet refuses it.
    const injected = () => "'self'; script-src *";
    const app = new Koa();
    const errors: unknown[] = [];
    app.on('error', (error: unknown) => errors.push(error));
    app.use(securityHeaders({ contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: [injected] } } }));
    let served = false;
    app.use((ctx) => {
      served = true;
      ctx.body = 'secret page';
    });
    const response = await fetch(await serve(app));
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain('secret page');
    expect(served).toBe(false);
    expect(String(errors[0])).toMatch(/script-src|invalid/i);
  });
});
