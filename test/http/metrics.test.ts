import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { serviceToken } from '../support/admin-api.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent } from '../support/user-agent.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';

const redirectUri = 'http://localhost:8093/callback';

/** One sample's value from Prometheus text, or undefined when the series does not exist. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics from an allowed network (loopback, the default outside production)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('counts tokens by grant type, sign-ins by outcome and requests by route, and shows the hash queue', async () => {
    const service = await registerTestClient(server, { name: 'Đồng bộ', kind: 'service' });
    await serviceToken(server, service.clientId, service.clientSecret!);
    await serviceToken(server, service.clientId, service.clientSecret!);

    await createUser(server, { username: 'lamthimy', password: 'một mật khẩu đủ dài', fullName: 'Lâm Thị Mỹ' });
    const client = await registerTestClient(server, { name: 'Cổng', redirectUris: [redirectUri], firstParty: true });
    const relyingParty = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
    const agent = new UserAgent();
    const { url } = await authorizationRequest(relyingParty, redirectUri);
    const page = await agent.follow(url.href, redirectUri);
    if (page.kind !== 'page') throw new Error('expected the login page');
    const [form] = formsOf(page.html, page.url);
    await agent.follow(form!.action, redirectUri, { form: { ...form!.fields, login: 'lamthimy', password: 'not the password at all' } });

    const response = await fetch(`${server.issuer}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(sample(text, 'mekong_tokens_issued_total{grant_type="client_credentials"}')).toBe(2);
    expect(sample(text, 'mekong_logins_total{outcome="invalid_credentials"}')).toBe(1);
    expect(sample(text, 'mekong_password_hash_queue_depth')).toBe(0);
    expect(text).toMatch(/^mekong_http_request_duration_seconds_count\{method="POST",route="\/token",status="200"\} 2$/m);
    expect(text).toMatch(/^mekong_http_request_duration_seconds_count\{method="POST",route="\/interaction\/:uid\/login",status="401"\} 1$/m);
    // Routes are labelled by pattern: no uid, id or raw path ever becomes a label.
    expect(text).not.toMatch(/route="\/interaction\/[A-Za-z0-9_-]{10,}/);
    if (server.database.kind === 'postgres') expect(sample(text, 'mekong_database_pool_connections{state="total"}')).toBeGreaterThan(0);
  });
});

describe('/metrics guarded by a token', () => {
  const token = randomBytes(32).toString('base64url');
  let server: TestServer;
  beforeAll(async () => {
    // An allowlist that excludes the test's own loopback address: only the token opens it.
    server = await startTestServer({ METRICS_TOKEN: token, METRICS_ALLOWED_NETWORKS: '10.99.0.0/16' });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('refuses a scraper outside the allowed networks without a token, and one with a wrong token', async () => {
    const anonymous = await fetch(`${server.issuer}/metrics`, { headers: { accept: 'application/json' } });
    expect(anonymous.status).toBe(403);
    expect(await anonymous.json()).toMatchObject({ error: 'forbidden' });
    const wrong = await fetch(`${server.issuer}/metrics`, { headers: { authorization: `Bearer ${token}x`, accept: 'application/json' } });
    expect(wrong.status).toBe(401);
  });

  it('serves the metrics to the bearer of the configured token', async () => {
    const response = await fetch(`${server.issuer}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('# TYPE mekong_logins_total counter');
  });
});
