import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { redeemCode, signInThroughPages } from '../support/admin-api.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { runCli, serveEnvironment, spawnServe, type ServeProcess } from '../support/serve-process.ts';
import { formsOf } from '../support/user-agent.ts';
import { createTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const postgres = inject('postgres');
const redirectUri = 'http://localhost:8081/callback';
const movedRedirectUri = 'http://localhost:8082/callback';
const postLogoutRedirectUri = 'http://localhost:8081/signed-out';
const login = { login: 'lethihong', password: 'Chợ nổi Cái Bè họp từ sáng sớm' };

interface Node {
  readonly name: 'A' | 'B';
  readonly serve: ServeProcess;
}

let database: TestDatabase;
/** The load balancer: both nodes serve one issuer, its address; the test picks the node behind it. */
let balancer: TcpProxy;
let issuer: string;
let environment: Record<string, string>;
let nodeA: Node;
let nodeB: Node;
let webApp: oidc.Configuration;
let webClientId: string;
let service: { clientId: string; configuration: oidc.Configuration };

const routeTo = (node: Node) => balancer.route({ host: '127.0.0.1', port: node.serve.port });
/** How many requests for `path` this node has logged: which node served a request, from its own log. */
const served = (node: Node, path: string) => node.serve.logLines().filter((line) => line.msg === 'request' && line['path'] === path).length;
const jwksOf = async (node: Node) => (await (await fetch(`${node.serve.url}/jwks`)).json()) as JSONWebKeySet;

// Two processes share one database only on PostgreSQL: the embedded database admits one process.
describe.skipIf(!postgres)('two Mekong ID nodes on one PostgreSQL database', { timeout: 60_000 }, () => {
  beforeAll(async () => {
    database = await createTestDatabase();
    if (database.target.kind !== 'postgres') throw new Error('unreachable: PostgreSQL runs only');
    balancer = await createTcpProxy({ host: '127.0.0.1', port: 1 });
    await balancer.open();
    issuer = `http://127.0.0.1:${balancer.port}`;
    // What the nodes share, as a deployment's configuration management would give them.
    environment = serveEnvironment({ DATABASE_URL: database.target.url, ISSUER: issuer });
    const [a, b] = await Promise.all([spawnServe(environment), spawnServe(environment)]);
    nodeA = { name: 'A', serve: a };
    nodeB = { name: 'B', serve: b };
    await Promise.all([a.ready(), b.ready()]);
    await routeTo(nodeA);

    const admin = await runCli(['admin', 'create', '--username', login.login, '--password-stdin'], environment, login.password);
    expect(admin.code, admin.stderr).toBe(0);
    const web = await runCli(
      ['clients', 'create', '--name', 'Hệ thống quản lý văn bản', '--redirect-uri', redirectUri, '--post-logout-redirect-uri', postLogoutRedirectUri, '--first-party', '--json'],
      environment,
    );
    expect(web.code, web.stderr).toBe(0);
    const webClient = JSON.parse(web.stdout) as { client_id: string; client_secret: string };
    webClientId = webClient.client_id;
    webApp = await discoverRelyingParty(issuer, webClient.client_id, webClient.client_secret);
    const automation = await runCli(['clients', 'create', '--name', 'Đồng bộ nhân sự', '--service', '--role', 'super_admin', '--json'], environment);
    expect(automation.code, automation.stderr).toBe(0);
    const serviceClient = JSON.parse(automation.stdout) as { client_id: string; client_secret: string };
    service = { clientId: serviceClient.client_id, configuration: await discoverRelyingParty(issuer, serviceClient.client_id, serviceClient.client_secret) };
  });

  afterAll(async () => {
    await Promise.all([nodeA?.serve.stop(), nodeB?.serve.stop()]);
    await balancer?.cut();
    await database?.close();
  });

  it('refreshes on node B a sign-in made on node A', async () => {
    await routeTo(nodeA);
    const signIn = await signInThroughPages(webApp, redirectUri, login, { scope: 'openid profile offline_access', prompt: 'consent' });
    const tokens = await redeemCode(webApp, signIn);
    await expect.poll(() => served(nodeA, '/token')).toBe(1);

    await routeTo(nodeB);
    const refreshed = await oidc.refreshTokenGrant(webApp, tokens.refresh_token!);
    expect(refreshed.claims()!.sub).toBe(tokens.claims()!.sub);
    expect((await oidc.fetchUserInfo(webApp, refreshed.access_token, refreshed.claims()!.sub)).sub).toBe(tokens.claims()!.sub);
    await expect.poll(() => served(nodeB, '/token')).toBe(1);
    expect(served(nodeA, '/token')).toBe(1);
  });

  it('ends on node A a session logged out of on node B', async () => {
    await routeTo(nodeA);
    const signIn = await signInThroughPages(webApp, redirectUri, login, { scope: 'openid profile' });
    const tokens = await redeemCode(webApp, signIn);
    expect((await oidc.fetchUserInfo(webApp, tokens.access_token, tokens.claims()!.sub)).sub).toBe(tokens.claims()!.sub);

    await routeTo(nodeB);
    const endSession = oidc.buildEndSessionUrl(webApp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: postLogoutRedirectUri });
    const confirmation = await signIn.agent.follow(endSession.href, postLogoutRedirectUri);
    if (confirmation.kind !== 'page') throw new Error('expected the logout confirmation page');
    const [form] = formsOf(confirmation.html, confirmation.url);
    const done = await signIn.agent.follow(form!.action, postLogoutRedirectUri, { form: { ...form!.fields, logout: 'yes' } });
    expect(done.kind).toBe('redirect');
    await expect.poll(() => served(nodeB, '/session/end/confirm')).toBe(1);

    await routeTo(nodeA);
    await expect(oidc.fetchUserInfo(webApp, tokens.access_token, tokens.claims()!.sub)).rejects.toMatchObject({ status: 401 });
    const again = await signIn.agent.follow((await authorizationRequest(webApp, redirectUri)).url.href, redirectUri);
    expect(again.kind === 'page' && again.html, 'node A asks for the password again').toContain('name="password"');
  });

  it('serves in node B\'s JWKS a key rotated on node A, and node B accepts what node A signs with it', async () => {
    const before = (await jwksOf(nodeB)).keys.map((key) => key.kid);
    const rotation = await runCli(['keys', 'rotate'], { ...environment, KEY_PUBLISH_AHEAD_SECONDS: '0' });
    expect(rotation.code, rotation.stderr).toBe(0);
    const added = [...rotation.stdout.matchAll(/^added (RS256|ES256) key (\S+):/gm)].map((match) => ({ alg: match[1]!, kid: match[2]! }));
    expect(added).toHaveLength(2);

    // Well before the nodes' periodic check (a minute): they were told through NOTIFY.
    await expect.poll(async () => (await jwksOf(nodeB)).keys.map((key) => key.kid), { timeout: 5_000, interval: 100 })
      .toEqual(expect.arrayContaining([...before, ...added.map((key) => key.kid)]));

    await routeTo(nodeA);
    const rs256 = added.find((key) => key.alg === 'RS256')!.kid;
    const es256 = added.find((key) => key.alg === 'ES256')!.kid;
    await expect.poll(async () => decodeProtectedHeader((await oidc.clientCredentialsGrant(service.configuration, { resource: `${issuer}/api/v1`, scope: 'api' })).access_token).kid, { timeout: 5_000 })
      .toBe(es256);
    const apiToken = (await oidc.clientCredentialsGrant(service.configuration, { resource: `${issuer}/api/v1`, scope: 'api' })).access_token;
    const signIn = await signInThroughPages(webApp, redirectUri, login, { scope: 'openid profile' });
    const { id_token: idToken } = await redeemCode(webApp, signIn);
    expect(decodeProtectedHeader(idToken!).kid).toBe(rs256);

    const { payload } = await jwtVerify(idToken!, createLocalJWKSet(await jwksOf(nodeB)), { issuer, audience: webClientId });
    expect(payload.sub).toBeTruthy();
    const users = await fetch(`${nodeB.serve.url}/api/v1/users`, { headers: { authorization: `Bearer ${apiToken}` } });
    expect(users.status, `node B's admin API accepts the token node A signed with the new key: ${await users.clone().text()}`).toBe(200);
  });

  it('applies on node B, without a restart, a change to a client made while node A served it', async () => {
    // Both nodes have served both clients, so each holds them in its client cache.
    for (const node of [nodeA, nodeB]) {
      await routeTo(node);
      await oidc.clientCredentialsGrant(service.configuration, { resource: `${issuer}/api/v1`, scope: 'api' });
      const { url } = await authorizationRequest(webApp, redirectUri);
      expect((await fetch(url, { redirect: 'manual' })).status).toBeLessThan(400);
    }

    // Made by hand in the clients table, as an operator in psql would: the table's trigger announces it to every node.
    await database.db.updateTable('clients').set({ status: 'disabled' }).where('client_id', '=', service.clientId).execute();
    const stored = await database.db.selectFrom('clients').select('metadata').where('client_id', '=', webClientId).executeTakeFirstOrThrow();
    await database.db.updateTable('clients')
      .set({ metadata: { ...stored.metadata, redirect_uris: [movedRedirectUri] } })
      .where('client_id', '=', webClientId)
      .execute();

    await routeTo(nodeB);
    // The notification reaches node B a moment after the commit: a few milliseconds, polled for at most two seconds.
    await expect
      .poll(() => oidc.clientCredentialsGrant(service.configuration, { resource: `${issuer}/api/v1`, scope: 'api' }).then(() => 'issued', (error: unknown) => (error as { error?: string }).error), { timeout: 2_000, interval: 20 })
      .toBe('invalid_client');
    const old = await fetch((await authorizationRequest(webApp, redirectUri)).url, { redirect: 'manual' });
    expect(old.status, 'the old redirect URI is refused').toBe(400);
    const moved = await fetch((await authorizationRequest(webApp, movedRedirectUri)).url, { redirect: 'manual' });
    expect(moved.status, 'the new redirect URI is accepted').toBe(303);
  });
});
