import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import type { User } from '../../src/db/schema.ts';
import { authenticationLevels, findConfirmedFactors } from '../../src/domain/second-factors.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { SoftwareAuthenticator } from '../support/software-authenticator.ts';
import { formsOf, UserAgent, type FollowResult } from '../support/user-agent.ts';

const redirectUri = 'http://localhost:8090/callback';
const password = 'khóa truy cập thay cho mã 2026';

let server: TestServer;
let app: oidc.Configuration;
let sequence = 0;

beforeAll(async () => {
  server = await startTestServer({ LOGIN_DELAY_AFTER_FAILURES: '10' }, { issuerHost: 'localhost' });
  const client = await registerTestClient(server, { name: 'Phần mềm bệnh viện', redirectUris: [redirectUri], firstParty: true });
  app = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
});

afterAll(async () => {
  await server.stop();
});

const html = (step: FollowResult) => (step.kind === 'page' ? step.html : '');
const decode = (value: string) => value.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The options a page hands to the browser for its passkey form. */
function optionsOn(step: FollowResult, kind: 'create'): PublicKeyCredentialCreationOptionsJSON;
function optionsOn(step: FollowResult, kind: 'get'): PublicKeyCredentialRequestOptionsJSON;
function optionsOn(step: FollowResult, kind: 'create' | 'get'): unknown {
  const match = new RegExp(`data-webauthn="${kind}" data-options="([^"]+)"`).exec(html(step));
  expect(match, `a passkey form (${kind}) on the page`).not.toBeNull();
  return JSON.parse(decode(match![1]!)) as unknown;
}

async function post(agent: UserAgent, step: FollowResult, action: string, fields: Record<string, string>, stopAt = 'http://never/'): Promise<FollowResult> {
  const form = formsOf(html(step), server.issuer).find((candidate) => new URL(candidate.action).pathname.endsWith(action));
  expect(form, `a form posting to …${action}`).toBeDefined();
  return agent.follow(form!.action, stopAt, { form: { ...form!.fields, ...fields } });
}

/** A person who signed in to the console and registered a passkey there. */
async function personWithPasskey(authenticator = new SoftwareAuthenticator()): Promise<{ user: User; authenticator: SoftwareAuthenticator }> {
  sequence += 1;
  const user = await createUser(server, { username: `khoatruycap${sequence}`, password, fullName: `Đoàn Văn Khóa ${sequence}` });
  const agent = new UserAgent();
  const login = await agent.follow(`${server.issuer}/account/security`, 'http://never/');
  const security = await post(agent, login, '/login', { login: user.username, password });
  const options = optionsOn(security, 'create');
  const response = await authenticator.register({ options, origin: server.issuer });
  const codes = await post(agent, security, '/account/security/passkey', { name: 'Khóa YubiKey', response: JSON.stringify(response) });
  expect([...html(codes).matchAll(/<li><code>/g)]).toHaveLength(10);
  return { user, authenticator };
}

async function startSignIn(agent = new UserAgent(), params: Record<string, string> = {}) {
  const state = oidc.randomState();
  const { url, verifier } = await authorizationRequest(app, redirectUri, { state, ...params });
  return { agent, state, verifier, step: await agent.follow(url.href, redirectUri) };
}

describe('registering a passkey in the account console', () => {
  it('stores the credential named by its owner, with its public key only, and audits it', async () => {
    const { user } = await personWithPasskey();
    const [factor] = await findConfirmedFactors(server.database.db, user.id);
    expect(factor).toMatchObject({ kind: 'webauthn', name: 'Khóa YubiKey', totp_secret_sealed: null });
    expect(factor!.public_key).toMatch(/^[\w-]+$/);
    const [event] = await listAuditEvents(server.database.db, { action: 'mfa.enrol', targetId: user.id, subtrees: null, limit: 5 });
    expect(event?.after).toMatchObject({ kind: 'webauthn', name: 'Khóa YubiKey' });
  });

  it('refuses a registration made for another origin, or answering another challenge', async () => {
    sequence += 1;
    const user = await createUser(server, { username: `khoatruycap${sequence}`, password });
    const agent = new UserAgent();
    const security = await post(agent, await agent.follow(`${server.issuer}/account/security`, 'http://never/'), '/login', { login: user.username, password });
    const options = optionsOn(security, 'create');
    const phished = await new SoftwareAuthenticator().register({ options, origin: server.issuer, tamper: { origin: 'https://mekong-id.example' } });
    const refused = await post(agent, security, '/account/security/passkey', { response: JSON.stringify(phished) });
    expect(refused.response.status).toBe(400);
    const stale = await new SoftwareAuthenticator().register({ options: { ...options, challenge: 'c3RhbGUtY2hhbGxlbmdl' }, origin: server.issuer });
    expect((await post(agent, refused, '/account/security/passkey', { response: JSON.stringify(stale) })).response.status).toBe(400);
    expect(await findConfirmedFactors(server.database.db, user.id)).toEqual([]);
  });
});

describe('signing in with a passkey as the second factor', () => {
  it('accepts an assertion from the registered key and tells the app the person proved possession of a key', async () => {
    const { user, authenticator } = await personWithPasskey();
    const journey = await startSignIn();
    const factorPage = await post(journey.agent, journey.step, '/login', { login: user.username, password }, redirectUri);
    const options = optionsOn(factorPage, 'get');
    expect(options.rpId).toBe('localhost');
    const assertion = await authenticator.authenticate({ options, origin: server.issuer });
    const done = await post(journey.agent, factorPage, '/second-factor', { method: 'passkey', response: JSON.stringify(assertion) }, redirectUri);
    expect(done.kind).toBe('redirect');
    const tokens = await oidc.authorizationCodeGrant(app, new URL(done.url), { pkceCodeVerifier: journey.verifier, expectedState: journey.state });
    expect(tokens.claims()).toMatchObject({ sub: user.id, acr: authenticationLevels.mfa, amr: ['pwd', 'pop', 'user', 'mfa'] });
  });

  it('refuses a replayed assertion, another person\'s key, and an assertion for another origin', async () => {
    const { user, authenticator } = await personWithPasskey();
    const other = await personWithPasskey();
    const journey = await startSignIn();
    let page = await post(journey.agent, journey.step, '/login', { login: user.username, password }, redirectUri);

    const options = optionsOn(page, 'get');
    const phished = await authenticator.authenticate({ options, origin: server.issuer, tamper: { origin: 'https://mekong-id.example' } });
    page = await post(journey.agent, page, '/second-factor', { method: 'passkey', response: JSON.stringify(phished) }, redirectUri);
    expect(page.response.status).toBe(401);

    const fresh = optionsOn(page, 'get');
    const othersKey = await other.authenticator.authenticate({ options: { ...fresh, allowCredentials: [] }, origin: server.issuer });
    page = await post(journey.agent, page, '/second-factor', { method: 'passkey', response: JSON.stringify(othersKey) }, redirectUri);
    expect(page.response.status).toBe(401);

    const valid = await authenticator.authenticate({ options: optionsOn(page, 'get'), origin: server.issuer });
    const done = await post(journey.agent, page, '/second-factor', { method: 'passkey', response: JSON.stringify(valid) }, redirectUri);
    expect(done.kind).toBe('redirect');

    // The same assertion again, in a new sign-in: its challenge is spent and its counter behind.
    const again = await startSignIn();
    const page2 = await post(again.agent, again.step, '/login', { login: user.username, password }, redirectUri);
    expect((await post(again.agent, page2, '/second-factor', { method: 'passkey', response: JSON.stringify(valid) }, redirectUri)).response.status).toBe(401);
  });
});

describe('signing in with a passkey alone', () => {
  it('signs the person in without a password when the authenticator verified them, as two factors', async () => {
    const { user, authenticator } = await personWithPasskey();
    const journey = await startSignIn();
    const options = optionsOn(journey.step, 'get');
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(options.userVerification).toBe('required');
    const assertion = await authenticator.authenticate({ options, origin: server.issuer });
    const done = await post(journey.agent, journey.step, '/passkey', { response: JSON.stringify(assertion) }, redirectUri);
    expect(done.kind).toBe('redirect');
    const tokens = await oidc.authorizationCodeGrant(app, new URL(done.url), { pkceCodeVerifier: journey.verifier, expectedState: journey.state });
    expect(tokens.claims()).toMatchObject({ sub: user.id, acr: authenticationLevels.mfa, amr: ['pop', 'user', 'mfa'] });
  });

  it('refuses a key that did not verify its user, and a key nobody registered', async () => {
    const withoutPin = await personWithPasskey(new SoftwareAuthenticator({ userVerification: false }));
    const journey = await startSignIn();
    const unverified = await withoutPin.authenticator.authenticate({ options: { ...optionsOn(journey.step, 'get'), userVerification: 'preferred' }, origin: server.issuer });
    const refused = await post(journey.agent, journey.step, '/passkey', { response: JSON.stringify(unverified) }, redirectUri);
    expect(refused.response.status).toBe(401);
    expect(html(refused)).toContain('Khóa truy cập không được chấp nhận');

    const stranger = new SoftwareAuthenticator();
    await stranger.register({ options: { ...(await strangerRegistrationOptions()) }, origin: server.issuer });
    const unknown = await stranger.authenticate({ options: optionsOn(refused, 'get'), origin: server.issuer });
    expect((await post(journey.agent, refused, '/passkey', { response: JSON.stringify(unknown) }, redirectUri)).response.status).toBe(401);
  });
});

/** Registration options for a key that is then never stored: a credential Mekong ID does not know. */
async function strangerRegistrationOptions(): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const { generateRegistrationOptions } = await import('@simplewebauthn/server');
  return generateRegistrationOptions({ rpName: 'Mekong ID', rpID: 'localhost', userName: 'nobody', attestationType: 'none', authenticatorSelection: { residentKey: 'required', userVerification: 'required' } });
}

describe('enrolling a passkey at sign-in, when policy asks for a second factor the person lacks', () => {
  async function enrolmentPage() {
    sequence += 1;
    const user = await createUser(server, { username: `khoatruycap${sequence}`, password, fullName: `Phan Thị Ghi Danh ${sequence}` });
    // The app asks for two factors; this person has none, so the sign-in offers to set one up.
    const journey = await startSignIn(new UserAgent(), { acr_values: authenticationLevels.mfa });
    const page = await post(journey.agent, journey.step, '/login', { login: user.username, password }, redirectUri);
    expect(html(page)).toContain('/enrol-totp');
    return { user, journey, page };
  }

  it('offers a passkey beside the authenticator app, and lets the new key stand as the second factor', async () => {
    const { user, journey, page } = await enrolmentPage();
    const authenticator = new SoftwareAuthenticator();
    const response = await authenticator.register({ options: optionsOn(page, 'create'), origin: server.issuer });
    const codes = await post(journey.agent, page, '/enrol-passkey', { name: 'Điện thoại', response: JSON.stringify(response) }, redirectUri);
    expect([...html(codes).matchAll(/<li><code>/g)]).toHaveLength(10);
    const done = await post(journey.agent, codes, '/continue', {}, redirectUri);
    expect(done.kind).toBe('redirect');
    const tokens = await oidc.authorizationCodeGrant(app, new URL(done.url), { pkceCodeVerifier: journey.verifier, expectedState: journey.state });
    expect(tokens.claims()).toMatchObject({ sub: user.id, acr: authenticationLevels.mfa, amr: ['pwd', 'pop', 'mfa'] });
    const [factor] = await findConfirmedFactors(server.database.db, user.id);
    expect(factor).toMatchObject({ kind: 'webauthn', name: 'Điện thoại' });

    // The key now works as the second factor of the next sign-in.
    const next = await startSignIn(new UserAgent(), { acr_values: authenticationLevels.mfa });
    const factorPage = await post(next.agent, next.step, '/login', { login: user.username, password }, redirectUri);
    const assertion = await authenticator.authenticate({ options: optionsOn(factorPage, 'get'), origin: server.issuer });
    expect((await post(next.agent, factorPage, '/second-factor', { method: 'passkey', response: JSON.stringify(assertion) }, redirectUri)).kind).toBe('redirect');
  });

  it('refuses a registration for another origin or a replayed one, counting each against the sign-in', async () => {
    const { user, journey, page } = await enrolmentPage();
    const options = optionsOn(page, 'create');
    const phished = await new SoftwareAuthenticator().register({ options, origin: server.issuer, tamper: { origin: 'https://mekong-id.example' } });
    const refused = await post(journey.agent, page, '/enrol-passkey', { response: JSON.stringify(phished) }, redirectUri);
    expect(refused.response.status).toBe(400);
    expect(html(refused)).toContain('/enrol-totp');

    // An answer to the first page's challenge, which the refused attempt spent.
    const replayed = await new SoftwareAuthenticator().register({ options, origin: server.issuer });
    const again = await post(journey.agent, refused, '/enrol-passkey', { response: JSON.stringify(replayed) }, redirectUri);
    expect(again.response.status).toBe(400);
    expect(await findConfirmedFactors(server.database.db, user.id)).toEqual([]);
    // Nothing was enrolled, so the step that finishes an enrolment is not open.
    const enrolForm = formsOf(html(again), server.issuer).find((form) => form.action.endsWith('/enrol-totp'))!;
    const skipped = await journey.agent.request(enrolForm.action.replace(/\/enrol-totp$/, '/continue'), { form: { _csrf: enrolForm.fields['_csrf']! } });
    expect(skipped.status).toBe(400);
  });
});
