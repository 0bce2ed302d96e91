import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createLogger } from '../../src/logger.ts';
import { startServer } from '../../src/main.ts';
import { apiClient, buildProvinceTree, grantDirectly, serviceToken } from '../support/admin-api.ts';
import { createTestDatabase } from '../support/database.ts';
import { linkIn, startMailCatcher, type MailCatcher } from '../support/mail-catcher.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, freePort, registerTestClient, testConfig, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent } from '../support/user-agent.ts';

/**
 * No password, token, secret, cookie or code is ever logged. A real server logs at its most
 * verbose level (trace) into memory, along with anything written to stdout or stderr, while a day's
 * work goes through it: an operator's automation on the admin API, activation by the helpdesk's
 * token and by mail, sign-in (with a mistyped password, and a password typed into the username
 * field), code exchange, refresh, userinfo, introspection, revocation, a forgotten password, logout,
 * and some refused requests. Then every secret used on the way is looked for in what was logged.
 */

const redirectUri = 'http://localhost:8096/callback';
const appClient = { name: 'Hệ thống quản lý văn bản', redirectUris: [redirectUri], postLogoutRedirectUris: [redirectUri] };

let server: TestServer;
let mail: MailCatcher;
/** Everything the server wrote: its pino lines, and stdout and stderr while it ran. */
const logged: string[] = [];
/** Every secret the flow used, with what it is, for the failure message. */
const secrets = new Map<string, string>();
const restoreOutput: (() => void)[] = [];

function secret(what: string, value: string | undefined | null): string {
  if (!value) throw new Error(`the flow should have produced ${what}`);
  // Short values (a state, a username) would match by chance, and are no secrets anyway.
  if (value.length >= 8 && !secrets.has(value)) secrets.set(value, what);
  return value;
}

/**
 * The interaction cookies hold the interaction's id, which the URL of its pages carries too (and so
 * the request log): a name for the sign-in in progress, worthless without the signature cookie
 * beside it that binds it to the browser. Their signatures, like every other cookie, are secrets.
 */
const cookiesNamingTheInteraction = new Set(['_interaction', '_interaction_resume']);

/** The cookies a browser holds are credentials: each value, and each signature. */
async function collectCookies(agent: UserAgent, url: string): Promise<void> {
  for (const cookie of await agent.jar.getCookies(url, { allPaths: true })) {
    if (!cookiesNamingTheInteraction.has(cookie.key)) secret(`the cookie ${cookie.key}`, cookie.value);
  }
}

/** Captures process output too: whatever reaches stdout or stderr reaches a journal in production. */
function captureProcessOutput(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream);
  stream.write = (chunk: string | Uint8Array, ...rest: unknown[]) => {
    logged.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  };
  restoreOutput.push(() => {
    stream.write = write;
  });
}

beforeAll(async () => {
  mail = await startMailCatcher();
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const config = testConfig({ PORT: String(port), ISSUER: issuer, LOG_LEVEL: 'trace', SMTP_URL: mail.url, MAIL_POLL_SECONDS: '0.2' });
  const database = await createTestDatabase();
  const logger = createLogger('trace', { destination: { write: (line: string) => void logged.push(line) } });
  captureProcessOutput(process.stdout);
  captureProcessOutput(process.stderr);
  const running = await startServer(config, logger, { database, host: '127.0.0.1' });
  server = { ...running, config, issuer, database };
});

afterAll(async () => {
  for (const restore of restoreOutput) restore();
  await server?.stop();
  await mail?.close();
});

/** Opens a page and submits its first form with these fields, as a browser would. */
async function submitFormOn(agent: UserAgent, url: string, fields: Record<string, string>) {
  const page = await agent.follow(url, redirectUri);
  if (page.kind !== 'page') throw new Error(`expected a page at ${url}`);
  const [form] = formsOf(page.html, page.url);
  if (!form) throw new Error(`no form at ${page.url}`);
  for (const [name, value] of Object.entries(form.fields)) if (['_csrf', 'xsrf', 'token'].includes(name)) secret(`the form field ${name}`, value);
  const result = await agent.follow(form.action, redirectUri, { form: { ...form.fields, ...fields } });
  await collectCookies(agent, server.issuer);
  return result;
}

/** A sign-in through the real pages with PKCE; returns the browser and the callback, or the page it stopped on. */
async function signInThroughPages(app: oidc.Configuration, login: string, password: string, agent = new UserAgent()) {
  const state = oidc.randomState();
  const { url, verifier } = await authorizationRequest(app, redirectUri, { state, scope: 'openid profile offline_access', prompt: 'consent' });
  secret('the PKCE code verifier', verifier);
  let step = await submitFormOn(agent, url.href, { login, password });
  // A consent page, for an app that is not first-party.
  if (step.kind === 'page' && step.response.ok) {
    const consent = formsOf(step.html, step.url).find((form) => form.action.endsWith('/confirm'));
    if (!consent) throw new Error(`expected the consent page at ${step.url}`);
    step = await agent.follow(consent.action, redirectUri, { form: consent.fields });
  }
  await collectCookies(agent, server.issuer);
  return { agent, step, state, verifier };
}

describe('the logs of a full day of work', () => {
  it('hold none of the passwords, secrets, tokens, codes or cookies used', async () => {
    const password = secret('a person\'s password', 'Sông Tiền chảy qua Mỹ Tho 2026');
    const passwordAfterReset = secret('the password set after a reset', 'cầu Rạch Miễu nối hai bờ sông');
    const activationPassword = secret('the password set at activation', 'phà Mỹ Thuận ngày xưa đông khách');
    const mailedActivationPassword = secret('the password set from the activation mail', 'vườn trái cây Cái Mơn mùa sầu riêng');

    // An operator's automation: a service client's secret, its API token, people created and activated.
    const tree = await buildProvinceTree(server);
    const automation = await registerTestClient(server, { name: 'Đồng bộ nhân sự', kind: 'service' });
    secret('the service client\'s secret', automation.clientSecret);
    await grantDirectly(server, { clientId: automation.clientId }, 'super_admin', null);
    const apiToken = secret('the admin API token', await serviceToken(server, automation.clientId, automation.clientSecret!));
    secret('the service client\'s Basic credentials', Buffer.from(`${automation.clientId}:${automation.clientSecret!}`).toString('base64'));
    const api = apiClient(server, apiToken);
    const helpdeskCase = await api<{ id: string }>('POST', '/users', { full_name: 'Võ Văn Kiệt', employee_code: 'CB-0101', org_unit_id: tree.anHuu.id });
    const mailedCase = await api<{ id: string; username: string }>('POST', '/users', { full_name: 'Nguyễn Thị Định', email: 'dinh@tiengiang.gov.vn', org_unit_id: tree.caiBe.id });
    expect([helpdeskCase.status, mailedCase.status]).toEqual([201, 201]);
    const activation = await api<{ activation_token: string | null }>('POST', `/users/${helpdeskCase.body.id}/activation`);
    const activationToken = secret('an activation token handed over by the helpdesk', activation.body.activation_token);
    // A refused call and a broken token: what goes wrong is logged too.
    expect((await api('GET', `/users/${helpdeskCase.body.id}`, undefined, { 'if-match': 'nonsense' })).status).toBeLessThan(500);
    expect((await apiClient(server, `${apiToken}x`)('GET', '/users')).status).toBe(401);

    // Activation with the helpdesk's token, and with the mailed link.
    const activated = await submitFormOn(new UserAgent(), `${server.issuer}/account/activate?token=${activationToken}`, { password: activationPassword, confirm: activationPassword });
    expect(activated.response.status).toBe(200);
    const activationMail = await mail.waitFor('dinh@tiengiang.gov.vn');
    const mailedToken = secret('an activation token sent by mail', linkIn(activationMail, `${server.issuer}/account/activate?token=`).searchParams.get('token'));
    const mailedActivation = await submitFormOn(new UserAgent(), `${server.issuer}/account/activate?token=${mailedToken}`, { password: mailedActivationPassword, confirm: mailedActivationPassword });
    expect(mailedActivation.response.status).toBe(200);

    // An app and a person: a wrong password, a password typed as the username, then the right one.
    const registered = await registerTestClient(server, appClient);
    secret('the app\'s client secret', registered.clientSecret);
    secret('the app\'s Basic credentials', Buffer.from(`${registered.clientId}:${registered.clientSecret!}`).toString('base64'));
    const app = await discoverRelyingParty(server.issuer, registered.clientId, registered.clientSecret);
    const person = await createUser(server, { username: 'tranthimai', password, fullName: 'Trần Thị Mai', email: 'mai@tiengiang.gov.vn' });
    const mistyped = await signInThroughPages(app, 'tranthimai', secret('a mistyped password', 'Sông Tiền chảy qua Mỹ Tho 2025'));
    expect(mistyped.step.kind === 'page' && mistyped.step.response.status).toBe(401);
    await signInThroughPages(app, password, password);
    const signIn = await signInThroughPages(app, 'tranthimai', password);
    if (signIn.step.kind !== 'redirect') throw new Error(`the sign-in stopped at ${signIn.step.url}`);
    const callback = new URL(signIn.step.url);
    secret('the authorization code', callback.searchParams.get('code'));

    // The app: code exchange, userinfo, refresh, introspection, revocation.
    const tokens = await oidc.authorizationCodeGrant(app, callback, { pkceCodeVerifier: signIn.verifier, expectedState: signIn.state });
    secret('the access token', tokens.access_token);
    secret('the refresh token', tokens.refresh_token);
    secret('the ID token', tokens.id_token);
    await oidc.fetchUserInfo(app, tokens.access_token, tokens.claims()!.sub);
    const refreshed = await oidc.refreshTokenGrant(app, tokens.refresh_token!);
    secret('the refreshed access token', refreshed.access_token);
    secret('the rotated refresh token', refreshed.refresh_token);
    expect((await oidc.tokenIntrospection(app, refreshed.access_token)).active).toBe(true);
    // The spent refresh token again (a replay), and a wrong client secret: refusals are logged too.
    await expect(oidc.refreshTokenGrant(app, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await oidc.tokenRevocation(app, refreshed.refresh_token!);
    const wrongSecret = await discoverRelyingParty(server.issuer, registered.clientId, secret('a wrong client secret', 'not-the-secret-of-this-app'));
    await expect(oidc.refreshTokenGrant(wrongSecret, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_client' });

    // A forgotten password: the mailed link, the new password, and a sign-in with it.
    await submitFormOn(new UserAgent(), `${server.issuer}/account/forgot`, { login: 'tranthimai' });
    const resetMail = await mail.waitFor(person.email!);
    const resetToken = secret('a password reset token', linkIn(resetMail, `${server.issuer}/account/reset?token=`).searchParams.get('token'));
    const reset = await submitFormOn(new UserAgent(), `${server.issuer}/account/reset?token=${resetToken}`, { password: passwordAfterReset, confirm: passwordAfterReset });
    expect(reset.response.status).toBe(200);
    const again = await signInThroughPages(app, 'tranthimai', passwordAfterReset);
    if (again.step.kind !== 'redirect') throw new Error(`the sign-in after the reset stopped at ${again.step.url}`);
    const callbackAgain = new URL(again.step.url);
    secret('the second authorization code', callbackAgain.searchParams.get('code'));
    const tokensAgain = await oidc.authorizationCodeGrant(app, callbackAgain, { pkceCodeVerifier: again.verifier, expectedState: again.state });
    secret('the second access token', tokensAgain.access_token);
    secret('the second ID token', tokensAgain.id_token);

    // Logout from the app, confirmed in the browser.
    const logout = oidc.buildEndSessionUrl(app, { id_token_hint: tokensAgain.id_token!, post_logout_redirect_uri: redirectUri });
    const ended = await submitFormOn(again.agent, logout.href, {});
    expect(ended.kind).toBe('redirect');
    // Let the mail loop and the request lines of the last responses finish writing.
    await new Promise((resolve) => setTimeout(resolve, 300));

    const text = logged.join('');
    // The capture works: the server's request lines are there, from every part of the flow.
    for (const path of ['/token', '/token/introspection', '/api/v1/users', '/account/activate', '/account/reset', '/session/end']) {
      expect(text).toContain(`"path":"${path}"`);
    }
    // As written, as a form or query string writes it, and as JSON escapes it.
    const writtenForms = (value: string) => [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)];
    const leaks = [...secrets].flatMap(([value, what]) => {
      const line = text.split('\n').find((candidate) => writtenForms(value).some((form) => candidate.includes(form)));
      return line === undefined ? [] : [`${what}, in: ${line}`];
    });
    expect(leaks).toEqual([]);
    expect(secrets.size).toBeGreaterThan(20);
  });
});
