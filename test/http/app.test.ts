import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createLogger } from '../../src/logger.ts';
import { startServer } from '../../src/main.ts';
import { createTestDatabase } from '../support/database.ts';
import { freePort, registerTestClient, testConfig, type TestServer } from '../support/server.ts';

/**
 * Every request gets an id, one log line, one timing and the security headers, once, whether
 * Mekong ID's routes serve it, oidc-provider's own endpoints do (handed over before the route
 * tables, see providerPaths), or oidc-provider gets what no route took (/auth/:uid, say). Both
 * apps are Koa apps with a context each, so a request oidc-provider answers must not be counted,
 * logged or given an id by both.
 */

let server: TestServer;
const logged: string[] = [];

beforeAll(async () => {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const config = testConfig({ PORT: String(port), ISSUER: issuer });
  const database = await createTestDatabase();
  const logger = createLogger('info', { destination: { write: (line: string) => void logged.push(line) } });
  const running = await startServer(config, logger, { database, host: '127.0.0.1' });
  server = { ...running, config, issuer, database };
});

afterAll(async () => {
  await server?.stop();
});

interface RequestLine {
  requestId: string;
  method: string;
  path: string;
  status: number;
}

/** The request log lines for a path, once the response has been read. */
function requestLines(path: string): RequestLine[] {
  return logged
    .map((line) => JSON.parse(line) as { msg: string } & RequestLine)
    .filter((line) => line.msg === 'request' && line.path === path);
}

/** The count of a request-duration series in /metrics, 0 when it does not exist. */
async function timedRequests(method: string, route: string, status: number): Promise<number> {
  const text = await (await fetch(`${server.issuer}/metrics`)).text();
  const series = `mekong_http_request_duration_seconds_count{method="${method}",route="${route}",status="${status}"} `;
  const line = text.split('\n').find((candidate) => candidate.startsWith(series));
  return line === undefined ? 0 : Number(line.slice(series.length));
}

function expectSecurityHeaders(response: Response): void {
  expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
  expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  expect(response.headers.get('referrer-policy')).toBe('no-referrer');
}

describe('what every request gets', () => {
  it('at the token endpoint, one of oidc-provider\'s own: an id, one log line, one timing, the security headers', async () => {
    const service = await registerTestClient(server, { name: 'Đồng bộ nhân sự', kind: 'service' });
    const before = await timedRequests('POST', '/token', 200);
    const response = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${service.clientId}:${service.clientSecret!}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api' }).toString(),
    });
    expect(response.status).toBe(200);
    await response.json();
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expectSecurityHeaders(response);
    expect(requestLines('/token').filter((line) => line.requestId === requestId)).toEqual([
      expect.objectContaining({ method: 'POST', path: '/token', status: 200 }),
    ]);
    expect(await timedRequests('POST', '/token', 200)).toBe(before + 1);
  });

  it('at one of oidc-provider\'s own endpoints with a query string: the same', async () => {
    const response = await fetch(`${server.issuer}/.well-known/openid-configuration?ui_locales=vi`);
    expect(response.status).toBe(200);
    expect((await response.json() as { issuer: string }).issuer).toBe(server.issuer);
    expectSecurityHeaders(response);
    const lines = requestLines('/.well-known/openid-configuration');
    expect(lines.map((line) => line.requestId)).toContain(response.headers.get('x-request-id'));
  });

  it('at a path no route takes, which oidc-provider answers: once, not once per app', async () => {
    const path = '/auth/no-such-interaction';
    const before = await timedRequests('GET', 'other', 400);
    const response = await fetch(`${server.issuer}${path}`);
    // oidc-provider answers: no interaction cookie, so no sign-in to resume.
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('<html');
    expectSecurityHeaders(response);
    const lines = requestLines(path);
    expect(lines).toEqual([expect.objectContaining({ method: 'GET', requestId: response.headers.get('x-request-id'), status: 400 })]);
    expect(await timedRequests('GET', 'other', 400)).toBe(before + 1);
  });

  it("at the app's own pages: the same, once", async () => {
    const response = await fetch(`${server.issuer}/healthz`);
    expect(response.status).toBe(200);
    await response.text();
    expectSecurityHeaders(response);
    expect(requestLines('/healthz').map((line) => line.requestId)).toEqual([response.headers.get('x-request-id')]);
  });
});
