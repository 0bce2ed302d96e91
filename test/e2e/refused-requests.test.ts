import { sql } from 'kysely';
import * as oidc from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { lifetimes } from '../../src/oidc/provider.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent } from '../support/user-agent.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';

const redirectUri = 'http://localhost:8082/callback';
const password = 'đây là mật khẩu đúng';

let server: TestServer;
let relyingParty: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, { username: 'lethicuc', password, fullName: 'Lê Thị Cúc' });
  await createUser(server, { username: 'phamvandung', password, fullName: 'Phạm Văn Dũng', status: 'suspended' });
  const client = await registerTestClient(server, { name: 'Hệ thống điều hành', redirectUris: [redirectUri], firstParty: true });
  relyingParty = await discover(client.clientId, client.clientSecret!);
});

afterAll(async () => {
  await server.stop();
});

afterEach(() => {
  vi.useRealTimers();
});

function discover(id: string, secret?: string) {
  return discoverRelyingParty(server.issuer, id, secret);
}

const consentRequest = { scope: 'openid offline_access', prompt: 'consent' };

async function authorizationUrl(params: Record<string, string> = {}) {
  return (await authorizationRequest(relyingParty, redirectUri, { ...consentRequest, ...params })).url;
}

/** Opens the login page and posts the form; returns the response to the post. */
async function postLogin(login: string, pass: string) {
  const agent = new UserAgent();
  const page = await agent.follow((await authorizationUrl()).href, redirectUri);
  if (page.kind !== 'page') throw new Error('expected the login page');
  const [form] = formsOf(page.html, page.url);
  return agent.follow(form!.action, redirectUri, { form: { ...form!.fields, login, password: pass } });
}

async function tokensFor(login: string) {
  const agent = new UserAgent();
  const { url, verifier } = await authorizationRequest(relyingParty, redirectUri, consentRequest);
  const page = await agent.follow(url.href, redirectUri);
  if (page.kind !== 'page') throw new Error('expected the login page');
  const [form] = formsOf(page.html, page.url);
  const callback = await agent.follow(form!.action, redirectUri, { form: { ...form!.fields, login, password } });
  if (callback.kind !== 'redirect') throw new Error('expected the callback');
  return oidc.authorizationCodeGrant(relyingParty, new URL(callback.url), { pkceCodeVerifier: verifier });
}

describe('login refusals that reveal nothing', () => {
  it('answers a wrong password and an unknown username identically', async () => {
    const wrongPassword = await postLogin('lethicuc', 'không phải mật khẩu');
    const unknownUser = await postLogin('khongcoai', 'không phải mật khẩu');
    for (const result of [wrongPassword, unknownUser]) {
      expect(result.kind).toBe('page');
      expect(result.response.status).toBe(401);
      expect(result.kind === 'page' && result.html).toContain('Tên đăng nhập hoặc mật khẩu không đúng.');
    }
  });

  it('tells a suspended person why only when their password is right', async () => {
    const rightPassword = await postLogin('phamvandung', password);
    expect(rightPassword.kind === 'page' && rightPassword.html).toContain('Tài khoản đang bị tạm khóa');
    const wrongPassword = await postLogin('phamvandung', 'sai mật khẩu rồi nhé');
    expect(wrongPassword.kind === 'page' && wrongPassword.html).toContain('Tên đăng nhập hoặc mật khẩu không đúng.');
    expect(wrongPassword.kind === 'page' && wrongPassword.html).not.toContain('tạm khóa');
  });
});

describe('authorization requests that are refused', () => {
  it('refuses an unknown client on an error page, without redirecting anywhere', async () => {
    const url = new URL(`${server.issuer}/auth`);
    url.search = new URLSearchParams({ client_id: 'no-such-client', response_type: 'code', scope: 'openid', redirect_uri: redirectUri }).toString();
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toContain('invalid_client');
  });

  it('refuses a redirect URI that is not registered exactly, without redirecting to it', async () => {
    const url = await authorizationUrl({ redirect_uri: `${redirectUri}/../evil` });
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toContain('redirect_uri');
  });

  it('refuses a public client that leaves out PKCE', async () => {
    const spa = await registerTestClient(server, { name: 'Ứng dụng một trang', kind: 'spa', redirectUris: [redirectUri] });
    const spaConfig = await discover(spa.clientId);
    const url = oidc.buildAuthorizationUrl(spaConfig, { redirect_uri: redirectUri, scope: 'openid' });
    const response = await fetch(url, { redirect: 'manual' });
    const location = new URL(response.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(redirectUri);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toContain('PKCE');
  });

  // PostgreSQL cannot store U+0000: saving the interaction with this parameter failed as a 500.
  it('refuses a parameter with a NUL character as invalid_request, back to the app, not as a server error', async () => {
    const response = await fetch(await authorizationUrl({ state: 'trạng\u0000thái' }), { redirect: 'manual' });
    const location = new URL(response.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(redirectUri);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toContain('NUL');
  });

  it('refuses the implicit flow: tokens never travel in URLs', async () => {
    const url = await authorizationUrl({ response_type: 'id_token token', nonce: 'n' });
    const response = await fetch(url, { redirect: 'manual' });
    const location = new URL(response.headers.get('location')!);
    expect(location.searchParams.get('error') ?? new URLSearchParams(location.hash.slice(1)).get('error')).toBe('unsupported_response_type');
  });
});

describe('tokens that are refused', () => {
  it('refuses an access token once it has expired', async () => {
    const tokens = await tokensFor('lethicuc');
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + (lifetimes.accessToken + 60) * 1000 });
    await expect(oidc.fetchUserInfo(relyingParty, tokens.access_token, String(tokens.claims()?.sub))).rejects.toMatchObject({ status: 401 });
  });

  it('stops refreshing once the person is suspended', async () => {
    const user = await createUser(server, { username: 'vothie', password, fullName: 'Võ Thị E' });
    const tokens = await tokensFor('vothie');
    await server.database.db.updateTable('users').set({ status: 'suspended' }).where('id', '=', user.id).execute();
    await expect(oidc.refreshTokenGrant(relyingParty, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a disabled client at the token endpoint', async () => {
    const service = await registerTestClient(server, { name: 'Dịch vụ bị khóa', kind: 'service' });
    const serviceConfig = await discover(service.clientId, service.clientSecret!);
    await oidc.clientCredentialsGrant(serviceConfig, { resource: `${server.issuer}/api/v1` });
    await server.database.db.updateTable('clients').set({ status: 'disabled', updated_at: sql<Date>`now()` }).where('client_id', '=', service.clientId).execute();
    await expect(oidc.clientCredentialsGrant(serviceConfig, { resource: `${server.issuer}/api/v1` })).rejects.toMatchObject({
      error: 'invalid_client',
    });
  });

  it('refuses a token for an API Mekong ID does not know', async () => {
    const service = await registerTestClient(server, { name: 'Dịch vụ tò mò', kind: 'service' });
    const serviceConfig = await discover(service.clientId, service.clientSecret!);
    await expect(oidc.clientCredentialsGrant(serviceConfig, { resource: 'https://other.example/api' })).rejects.toMatchObject({
      error: 'invalid_target',
    });
  });

  it('refuses an ordinary app a token for the admin API, even for a signed-in super administrator', async () => {
    const agent = new UserAgent();
    const url = await authorizationUrl({ scope: 'openid', resource: `${server.issuer}/api/v1` });
    const result = await agent.follow(url.href, redirectUri);
    const location = result.kind === 'redirect' ? new URL(result.url) : null;
    expect(location?.searchParams.get('error')).toBe('invalid_target');
  });

  it('refuses an ordinary app that asks for the admin API at the token endpoint, on a code or a refresh', async () => {
    const api = `${server.issuer}/api/v1`;
    const agent = new UserAgent();
    const { url, verifier } = await authorizationRequest(relyingParty, redirectUri, consentRequest);
    const page = await agent.follow(url.href, redirectUri);
    if (page.kind !== 'page') throw new Error('expected the login page');
    const [form] = formsOf(page.html, page.url);
    const callback = await agent.follow(form!.action, redirectUri, { form: { ...form!.fields, login: 'lethicuc', password } });
    if (callback.kind !== 'redirect') throw new Error('expected the callback');
    await expect(
      oidc.authorizationCodeGrant(relyingParty, new URL(callback.url), { pkceCodeVerifier: verifier }, { resource: api }),
    ).rejects.toMatchObject({ error: 'invalid_target' });

    const tokens = await tokensFor('lethicuc');
    await expect(oidc.refreshTokenGrant(relyingParty, tokens.refresh_token!, { resource: api })).rejects.toMatchObject({
      error: 'invalid_target',
    });
  });

  it('does not let one client introspect another client\u2019s token', async () => {
    const tokens = await tokensFor('lethicuc');
    const other = await registerTestClient(server, { name: 'Ứng dụng tò mò', redirectUris: [redirectUri] });
    const otherConfig = await discover(other.clientId, other.clientSecret!);
    expect((await oidc.tokenIntrospection(otherConfig, tokens.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(otherConfig, tokens.refresh_token!)).active).toBe(false);
  });

  it('refuses client_secret_jwt: the stored value is a hash, never a signing key', async () => {
    const client = await registerTestClient(server, { name: 'Dịch vụ ký HMAC', kind: 'service' });
    const hmacClient = await oidc.discovery(
      new URL(server.issuer),
      client.clientId,
      undefined,
      oidc.ClientSecretJwt(client.clientSecret!),
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- plain http on loopback, see support/relying-party.ts
      { execute: [oidc.allowInsecureRequests] },
    );
    await expect(oidc.clientCredentialsGrant(hmacClient, { resource: `${server.issuer}/api/v1` })).rejects.toMatchObject({
      error: 'invalid_client',
    });
  });

  it('does not let one client revoke another client\u2019s token', async () => {
    const tokens = await tokensFor('lethicuc');
    const other = await registerTestClient(server, { name: 'Ứng dụng khác', redirectUris: [redirectUri] });
    const otherConfig = await discover(other.clientId, other.clientSecret!);
    await oidc.tokenRevocation(otherConfig, tokens.access_token).catch(() => undefined);
    expect((await oidc.tokenIntrospection(relyingParty, tokens.access_token)).active).toBe(true);
  });
});

describe('a burst of sign-ins beyond what the server hashes at once', () => {
  it('keeps the person on the login form with a busy message and Retry-After, instead of queueing without end', async () => {
    // Throttling would space these same-address guesses out before they reach the hash queue; this
    // test is about the queue, so the delay starts far beyond the burst.
    const busy = await startTestServer({ ARGON2_CONCURRENCY: '1', ARGON2_MAX_QUEUE: '1', LOGIN_DELAY_AFTER_FAILURES: '100' });
    try {
      await createUser(busy, { username: 'lethicuc', password, fullName: 'Lê Thị Cúc' });
      const client = await registerTestClient(busy, { name: 'Ứng dụng', redirectUris: [redirectUri] });
      const rp = await discoverRelyingParty(busy.issuer, client.clientId, client.clientSecret);
      const forms = await Promise.all(
        Array.from({ length: 8 }, async () => {
          const agent = new UserAgent();
          const { url } = await authorizationRequest(rp, redirectUri);
          const page = await agent.follow(url.href, redirectUri);
          if (page.kind !== 'page') throw new Error('expected the login page');
          return { agent, form: formsOf(page.html, page.url)[0]! };
        }),
      );
      const results = await Promise.all(
        forms.map(({ agent, form }) => agent.follow(form.action, redirectUri, { form: { ...form.fields, login: 'lethicuc', password: 'sai mật khẩu nhé' } })),
      );
      const refused = results.filter((result) => result.response.status === 503);
      expect(refused.length).toBeGreaterThan(0);
      for (const result of refused) {
        expect(result.response.headers.get('retry-after')).toBe('2');
        expect(result.kind === 'page' && result.html).toContain('Hệ thống đang bận');
        expect(result.kind === 'page' && result.html).toContain('value="lethicuc"');
      }
      expect(results.map((result) => result.response.status).filter((status) => ![401, 503].includes(status))).toEqual([]);
    } finally {
      await busy.stop();
    }
  });
});
