import * as oidc from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';

import { redeemCode, signInThroughPages } from './support/admin-api.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { authorizationRequest, discoverRelyingParty } from './support/relying-party.ts';
import { runCli, serveEnvironment, spawnServe, type ServeProcess } from './support/serve-process.ts';
import { freePort } from './support/server.ts';
import { createTcpProxy, postgresAddress, throughProxy, type TcpProxy } from './support/tcp-proxy.ts';

const postgres = inject('postgres');
const redirectUri = 'http://localhost:8081/callback';
const login = { login: 'vothisau', password: 'Sông Tiền chảy qua Mỹ Tho năm 2026' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `mekong-id serve` on a database reached through `proxy`, its issuer on its own port. */
async function serveThrough(database: TestDatabase, proxy: TcpProxy, env: Record<string, string> = {}): Promise<ServeProcess> {
  const port = await freePort();
  if (database.target.kind !== 'postgres') throw new Error('a proxy stands in front of PostgreSQL only');
  return spawnServe(serveEnvironment({ PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, DATABASE_URL: throughProxy(database.target.url, proxy), ...env }));
}

// The embedded database lives inside the process: it cannot be down, restart or be unreachable.
describe.skipIf(!postgres)('started while PostgreSQL is unreachable', { timeout: 60_000 }, () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let serve: ServeProcess | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterEach(async () => {
    await serve?.stop();
    await proxy?.cut();
  });

  afterAll(async () => {
    await database?.close();
  });

  it('stays alive but not ready, retrying with growing waits, and becomes ready once the database answers', async () => {
    proxy = await createTcpProxy(postgresAddress(postgres!.url));
    serve = await serveThrough(database, proxy);

    await expect.poll(() => fetch(`${serve!.url}/healthz`).then((response) => response.status, () => 0), { timeout: 20_000, interval: 200 }).toBe(200);
    const notReady = await fetch(`${serve.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ status: 'not_ready', checks: { database: false, keys: false } });
    // Anything else is refused honestly, with a hint to come back, rather than hanging or failing.
    const discovery = await fetch(`${serve.url}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(503);
    expect(discovery.headers.get('retry-after')).toBe('5');

    await expect.poll(() => retries(serve!).length, { timeout: 20_000, interval: 250 }).toBeGreaterThanOrEqual(3);
    const waits = retries(serve).map((line) => line['retryInMs'] as number);
    expect(waits.slice(0, 3)).toEqual([500, 1000, 2000]);
    expect(serve.child.exitCode).toBeNull();
    expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);

    await proxy.open();
    await serve.ready(15_000);
    expect((await fetch(`${serve.url}/.well-known/openid-configuration`)).status).toBe(200);
    expect(serve.stderr()).toBe('');
  });

  it('stops at once and cleanly on SIGTERM while still waiting for the database', async () => {
    proxy = await createTcpProxy(postgresAddress(postgres!.url));
    serve = await serveThrough(database, proxy);
    await expect.poll(() => retries(serve!).length, { timeout: 20_000, interval: 200 }).toBeGreaterThanOrEqual(1);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toEqual({ code: 0, signal: null });
    expect(serve.logLines().find((line) => line.msg === 'shutting down')).toMatchObject({ signal: 'SIGTERM' });
  });
});

const retries = (serve: ServeProcess) => serve.logLines().filter((line) => line.msg.startsWith('the database is unreachable (starting)'));

interface Outcome {
  readonly startedAt: number;
  readonly path: string;
  /** 0: no HTTP answer at all. */
  readonly status: number;
}

/** Keeps `workers` requests in flight until stopped, recording each one's outcome. */
function startLoad(workers: number, request: (worker: number) => Promise<{ path: string; status: number }>) {
  const outcomes: Outcome[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async (_, worker) => {
    while (running) {
      const startedAt = Date.now();
      const { path, status } = await request(worker).catch(() => ({ path: 'unanswered', status: 0 }));
      outcomes.push({ startedAt, path, status });
      // Failing requests come back at once; a short pause keeps the outage from becoming a busy loop.
      if (status === 0 || status >= 500) await sleep(50);
    }
  });
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe.skipIf(!postgres)('PostgreSQL restarting under load', { timeout: 90_000 }, () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let serve: ServeProcess;
  let relyingParty: oidc.Configuration;

  beforeAll(async () => {
    database = await createTestDatabase();
    proxy = await createTcpProxy(postgresAddress(postgres!.url));
    await proxy.open();
    // What an operator would run, against the same database and with the same MASTER_KEY.
    const cliEnv = serveEnvironment({ DATABASE_URL: throughProxy((database.target as { url: string }).url, proxy) });
    serve = await serveThrough(database, proxy, { MASTER_KEY: cliEnv['MASTER_KEY']! });
    await serve.ready();
    const admin = await runCli(['admin', 'create', '--username', login.login, '--password-stdin'], cliEnv, login.password);
    expect(admin.code, admin.stderr).toBe(0);
    const created = await runCli(['clients', 'create', '--name', 'Cổng dịch vụ công', '--redirect-uri', redirectUri, '--first-party', '--json'], cliEnv);
    expect(created.code, created.stderr).toBe(0);
    const client = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
    relyingParty = await discoverRelyingParty(serve.url, client.client_id, client.client_secret);
  });

  afterAll(async () => {
    await serve?.stop();
    await proxy?.cut();
    await database?.close();
  });

  it('recovers by itself within seconds, answers no 5xx once the database is back, and keeps every token and session', async () => {
    const signIn = await signInThroughPages(relyingParty, redirectUri, login, { scope: 'openid profile offline_access', prompt: 'consent' });
    const tokens = await redeemCode(relyingParty, signIn);
    expect(tokens.refresh_token).toBeTruthy();
    const sub = tokens.claims()!.sub;

    // Readers of stored tokens and sessions, and pages that touch nothing stored.
    const load = startLoad(6, async (worker) => {
      if (worker % 3 === 0) {
        const response = await fetch(`${serve.url}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
        await response.body?.cancel();
        return { path: '/me', status: response.status };
      }
      if (worker % 3 === 1) {
        const response = await signIn.agent.request(oidc.buildAuthorizationUrl(relyingParty, {
          redirect_uri: redirectUri, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
        }).href);
        await response.body?.cancel();
        return { path: '/auth', status: response.status };
      }
      const response = await fetch(`${serve.url}/.well-known/openid-configuration`);
      await response.body?.cancel();
      return { path: 'discovery', status: response.status };
    });
    try {
      await sleep(1_000);
      const cutAt = Date.now();
      await proxy.cut();
      await sleep(3_000);
      await proxy.open();
      const restoredAt = Date.now();
      // Ready again within seconds, without being restarted.
      await serve.ready(10_000);
      const readyAfterMs = Date.now() - restoredAt;
      expect(readyAfterMs).toBeLessThan(5_000);
      await sleep(3_000);
      await load.stop();

      const during = load.outcomes.filter((outcome) => outcome.startedAt > cutAt && outcome.startedAt < restoredAt);
      expect(during.some((outcome) => outcome.status >= 500), 'the cut was felt').toBe(true);
      const after = load.outcomes.filter((outcome) => outcome.startedAt >= restoredAt);
      expect(after.length).toBeGreaterThan(50);
      expect(after.filter((outcome) => outcome.status === 0 || outcome.status >= 500)).toEqual([]);
      expect(new Set(after.map((outcome) => outcome.path))).toEqual(new Set(['/me', '/auth', 'discovery']));
    } finally {
      await load.stop();
    }

    // Nothing issued before the restart was lost.
    expect((await oidc.fetchUserInfo(relyingParty, tokens.access_token, sub)).sub).toBe(sub);
    const refreshed = await oidc.refreshTokenGrant(relyingParty, tokens.refresh_token!);
    expect(refreshed.claims()!.sub).toBe(sub);
    const again = await signIn.agent.follow((await authorizationRequest(relyingParty, redirectUri)).url.href, redirectUri);
    expect(again.kind, 'the sign-in session survived').toBe('redirect');

    expect(serve.child.exitCode).toBeNull();
    expect(serve.logLines().some((line) => line.msg === 'database connection lost; the pool will reconnect')).toBe(true);
  });
});
