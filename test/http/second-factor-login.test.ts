import * as oidc from 'openid-client';
import * as OTPAuth from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import { insertOrgUnit } from '../../src/db/queries/org-units.ts';
import type { User } from '../../src/db/schema.ts';
import { authenticationLevels, issueRecoveryCodes, startTotpEnrolment, verifyTotpCode } from '../../src/domain/second-factors.ts';
import { findFactor } from '../../src/db/queries/second-factors.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent, type FollowResult } from '../support/user-agent.ts';

const redirectUri = 'http://localhost:8085/callback';
const password = 'mật khẩu hai bước 2026';

let server: TestServer;
let ordinaryApp: oidc.Configuration;
let hospitalApp: oidc.Configuration;
let sequence = 0;

beforeAll(async () => {
  // Throttling is tested on a server of its own below; here wrong codes must not trigger it.
  server = await startTestServer({ LOGIN_DELAY_AFTER_FAILURES: '10' });
  const ordinary = await registerTestClient(server, { name: 'Cổng dịch vụ công', redirectUris: [redirectUri], firstParty: true });
  ordinaryApp = await discoverRelyingParty(server.issuer, ordinary.clientId, ordinary.clientSecret);
  const hospital = await registerTestClient(server, { name: 'Phần mềm bệnh viện', redirectUris: [redirectUri], firstParty: true, mfaRequired: true });
  hospitalApp = await discoverRelyingParty(server.issuer, hospital.clientId, hospital.clientSecret);
});

afterAll(async () => {
  await server.stop();
});

async function person(options: { orgUnitId?: string } = {}): Promise<User> {
  sequence += 1;
  const user = await createUser(server, { username: `haibuoc${sequence}`, password, fullName: `Lê Văn Bước ${sequence}` });
  if (!options.orgUnitId) return user;
  return server.database.db.updateTable('users').set({ primary_org_unit_id: options.orgUnitId }).where('id', '=', user.id).returningAll().executeTakeFirstOrThrow();
}

/** A person with a confirmed authenticator app; answers the secret, to compute codes as the phone would. */
async function personWithTotp(): Promise<{ user: User; secret: string }> {
  const user = await person();
  const deps = { db: server.database.db, masterKey: server.config.masterKey };
  const enrolment = await startTotpEnrolment(deps, user, 'Điện thoại');
  const secret = enrolment.manualKey.replace(/ /g, '');
  // Confirmed with the previous step's code, so that the tests' own codes (this step and the next) are unused.
  const factor = (await findFactor(server.database.db, user.id, enrolment.factorId))!;
  expect(await verifyTotpCode(deps, factor, totpCode(secret, -30), Date.now())).toBe(true);
  return { user, secret };
}

/** The code an authenticator app shows `offsetSeconds` from now. */
function totpCode(secret: string, offsetSeconds = 0): string {
  return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate({ timestamp: Date.now() + offsetSeconds * 1000 });
}

interface Journey {
  readonly agent: UserAgent;
  readonly app: oidc.Configuration;
  readonly verifier: string;
  readonly state: string;
  step: FollowResult;
}

async function startSignIn(app: oidc.Configuration, agent = new UserAgent(), params: Record<string, string> = {}): Promise<Journey> {
  const state = oidc.randomState();
  const { url, verifier } = await authorizationRequest(app, redirectUri, { state, ...params });
  return { agent, app, verifier, state, step: await agent.follow(url.href, redirectUri) };
}

/** Posts the page's form whose action ends with `action`, with these fields added to its hidden ones. */
async function submit(journey: Journey, action: string, fields: Record<string, string> = {}): Promise<FollowResult> {
  expect(journey.step.kind, 'expected a page with a form').toBe('page');
  const html = journey.step.kind === 'page' ? journey.step.html : '';
  const form = formsOf(html, journey.step.url).find((candidate) => new URL(candidate.action).pathname.endsWith(action));
  expect(form, `a form posting to …${action}`).toBeDefined();
  journey.step = await journey.agent.follow(form!.action, redirectUri, { form: { ...form!.fields, ...fields } });
  return journey.step;
}

const pageHtml = (step: FollowResult) => (step.kind === 'page' ? step.html : '');

async function idTokenClaims(journey: Journey): Promise<oidc.IDToken> {
  expect(journey.step.kind).toBe('redirect');
  const tokens = await oidc.authorizationCodeGrant(journey.app, new URL(journey.step.url), { pkceCodeVerifier: journey.verifier, expectedState: journey.state });
  return tokens.claims()!;
}

describe('signing in with an authenticator app', () => {
  it('asks for the code after the password, and tells the app the person used two factors', async () => {
    const { user, secret } = await personWithTotp();
    const journey = await startSignIn(ordinaryApp);
    await submit(journey, '/login', { login: user.username, password });
    expect(journey.step.kind === 'page' && journey.step.url).toMatch(/\/interaction\//);
    expect(pageHtml(journey.step)).toContain('name="code"');

    await submit(journey, '/second-factor', { code: totpCode(secret) });
    const claims = await idTokenClaims(journey);
    expect(claims.sub).toBe(user.id);
    expect(claims.acr).toBe(authenticationLevels.mfa);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    const [event] = await listAuditEvents(server.database.db, { action: 'login.success', targetId: user.id, subtrees: null, limit: 5 });
    expect(event?.details).toMatchObject({ method: 'password', second_factor: 'totp', amr: ['pwd', 'otp', 'mfa'] });
  });

  it('does not sign the person in on the password alone: the app gets nothing until the code is right', async () => {
    const { user, secret } = await personWithTotp();
    const journey = await startSignIn(ordinaryApp);
    await submit(journey, '/login', { login: user.username, password });
    const wrong = await submit(journey, '/second-factor', { code: '000000' === totpCode(secret) ? '111111' : '000000' });
    expect(wrong.response.status).toBe(401);
    expect(pageHtml(wrong)).toContain('role="alert"');
    // Skipping ahead to the steps after the factor (with a valid CSRF token) is refused.
    const factorForm = formsOf(pageHtml(wrong), server.issuer).find((form) => form.action.endsWith('/second-factor'))!;
    for (const step of ['/continue', '/confirm']) {
      const skip = await journey.agent.follow(factorForm.action.replace(/\/second-factor$/, step), redirectUri, { form: { _csrf: factorForm.fields['_csrf']! } });
      expect(skip.response.status).toBe(400);
      expect(pageHtml(skip)).toContain('interaction_step_mismatch');
    }
    expect((await listAuditEvents(server.database.db, { action: 'login.success', targetId: user.id, subtrees: null, limit: 5 }))).toEqual([]);
    const [failure] = await listAuditEvents(server.database.db, { action: 'login.failure', targetId: user.id, subtrees: null, limit: 5 });
    expect(failure?.details).toMatchObject({ method: 'totp', reason: 'invalid_second_factor' });
  });

  it('refuses a code that was already used, even within its time window', async () => {
    const { user, secret } = await personWithTotp();
    const code = totpCode(secret);
    const first = await startSignIn(ordinaryApp);
    await submit(first, '/login', { login: user.username, password });
    await submit(first, '/second-factor', { code });
    expect(first.step.kind).toBe('redirect');

    const second = await startSignIn(ordinaryApp);
    await submit(second, '/login', { login: user.username, password });
    const replay = await submit(second, '/second-factor', { code });
    expect(replay.response.status).toBe(401);
    // The next code still works.
    await submit(second, '/second-factor', { code: totpCode(secret, 30) });
    expect(second.step.kind).toBe('redirect');
  });

  it('sends the person back to the password after five wrong codes', async () => {
    const { user } = await personWithTotp();
    const journey = await startSignIn(ordinaryApp);
    await submit(journey, '/login', { login: user.username, password });
    for (let attempt = 1; attempt < 5; attempt += 1) {
      expect((await submit(journey, '/second-factor', { code: '12345' + String(attempt) })).response.status).toBe(401);
    }
    const last = await submit(journey, '/second-factor', { code: '999999' });
    expect(last.response.status).toBe(401);
    expect(pageHtml(last)).toContain('name="password"');
  });
});

describe('guessing codes', () => {
  let defaults: TestServer;
  beforeAll(async () => {
    defaults = await startTestServer();
  });
  afterAll(async () => {
    await defaults.stop();
  });

  it('is throttled like guessing passwords: after three wrong codes even the right one must wait', async () => {
    const user = await createUser(defaults, { username: 'doanma', password });
    const deps = { db: defaults.database.db, masterKey: defaults.config.masterKey };
    const enrolment = await startTotpEnrolment(deps, user, '');
    const secret = enrolment.manualKey.replace(/ /g, '');
    await verifyTotpCode(deps, (await findFactor(deps.db, user.id, enrolment.factorId))!, totpCode(secret, -30));
    const client = await registerTestClient(defaults, { name: 'Ứng dụng', redirectUris: [redirectUri], firstParty: true });
    const app = await discoverRelyingParty(defaults.issuer, client.clientId, client.clientSecret);

    const journey = await startSignIn(app);
    await submit(journey, '/login', { login: user.username, password });
    for (const guess of ['000001', '000002', '000003']) expect((await submit(journey, '/second-factor', { code: guess })).response.status).toBe(401);
    const waiting = await submit(journey, '/second-factor', { code: totpCode(secret) });
    expect(waiting.response.status).toBe(429);
    expect(Number(waiting.response.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(pageHtml(waiting)).toContain('name="code"');
  });
});

describe('recovery codes', () => {
  it('sign a person in once each', async () => {
    const { user } = await personWithTotp();
    const [code] = await issueRecoveryCodes(server.database.db, user.id);
    const first = await startSignIn(ordinaryApp);
    await submit(first, '/login', { login: user.username, password });
    await submit(first, '/second-factor', { method: 'recovery_code', code: code!.toLowerCase() });
    expect((await idTokenClaims(first)).acr).toBe(authenticationLevels.mfa);
    const [used] = await listAuditEvents(server.database.db, { action: 'mfa.recovery_code.use', targetId: user.id, subtrees: null, limit: 5 });
    expect(used?.details).toEqual({ remaining: 9 });

    const again = await startSignIn(ordinaryApp);
    await submit(again, '/login', { login: user.username, password });
    expect((await submit(again, '/second-factor', { method: 'recovery_code', code: code! })).response.status).toBe(401);
  });

  it('are refused for another person', async () => {
    const { user } = await personWithTotp();
    const other = await personWithTotp();
    const [othersCode] = await issueRecoveryCodes(server.database.db, other.user.id);
    const journey = await startSignIn(ordinaryApp);
    await submit(journey, '/login', { login: user.username, password });
    expect((await submit(journey, '/second-factor', { method: 'recovery_code', code: othersCode! })).response.status).toBe(401);
  });
});

describe('policy: a second factor required by the org tree or by the app', () => {
  async function enrolAtLogin(journey: Journey): Promise<string[]> {
    const page = pageHtml(journey.step);
    expect(page).toContain('data:image/svg+xml;base64,');
    const key = /<code class="key">([A-Z2-7 ]+)<\/code>/.exec(page)?.[1];
    expect(key).toBeDefined();
    const codesPage = await submit(journey, '/enrol-totp', { code: totpCode(key!.replace(/ /g, '')) });
    const codes = [...pageHtml(codesPage).matchAll(/<li><code>([A-Z0-9-]+)<\/code><\/li>/g)].map((match) => match[1]!);
    await submit(journey, '/continue');
    return codes;
  }

  it('takes someone below a unit that requires it through enrolment, inherited down the tree', async () => {
    const db = server.database.db;
    const health = await insertOrgUnit(db, { code: `SYT${sequence}`, name: 'Sở Y tế', kind: 'department', parent: null });
    await db.updateTable('org_units').set({ mfa_required: true }).where('id', '=', health.id).execute();
    const hospital = await insertOrgUnit(db, { code: `BV${sequence}`, name: 'Bệnh viện Đa khoa tỉnh', kind: 'hospital', parent: health });
    const doctor = await person({ orgUnitId: hospital.id });

    const journey = await startSignIn(ordinaryApp);
    await submit(journey, '/login', { login: doctor.username, password });
    const codes = await enrolAtLogin(journey);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    const claims = await idTokenClaims(journey);
    expect(claims.acr).toBe(authenticationLevels.mfa);
    const [enrolled] = await listAuditEvents(db, { action: 'mfa.enrol', targetId: doctor.id, subtrees: null, limit: 5 });
    expect(enrolled?.after).toMatchObject({ kind: 'totp', recovery_codes_issued: true });
  });

  it('lets someone outside that subtree sign in with a password alone', async () => {
    const db = server.database.db;
    const education = await insertOrgUnit(db, { code: `SGD${sequence}`, name: 'Sở Giáo dục và Đào tạo', kind: 'department', parent: null });
    const teacher = await person({ orgUnitId: education.id });
    const journey = await startSignIn(ordinaryApp);
    await submit(journey, '/login', { login: teacher.username, password });
    expect((await idTokenClaims(journey)).acr).toBe(authenticationLevels.password);
  });

  it('takes everyone signing in to an app that requires it through enrolment', async () => {
    const user = await person();
    const journey = await startSignIn(hospitalApp);
    await submit(journey, '/login', { login: user.username, password });
    await enrolAtLogin(journey);
    expect((await idTokenClaims(journey)).amr).toContain('mfa');
  });

  it('keeps asking for enrolment when the first code is wrong, with the same key', async () => {
    const user = await person();
    const journey = await startSignIn(hospitalApp);
    await submit(journey, '/login', { login: user.username, password });
    const key = /<code class="key">([A-Z2-7 ]+)<\/code>/.exec(pageHtml(journey.step))?.[1];
    const wrong = await submit(journey, '/enrol-totp', { code: '000000' });
    expect(wrong.response.status).toBe(400);
    expect(pageHtml(wrong)).toContain(key!);
    await enrolAtLogin(journey);
    expect(journey.step.kind).toBe('redirect');
  });
});

describe('step-up with acr_values', () => {
  it('asks only for the second factor when a password session meets an app asking for more', async () => {
    const user = await person();
    const agent = new UserAgent();
    const plain = await startSignIn(ordinaryApp, agent);
    await submit(plain, '/login', { login: user.username, password });
    expect((await idTokenClaims(plain)).acr).toBe(authenticationLevels.password);

    // The person adds an authenticator app later; the session is still a password session.
    const deps = { db: server.database.db, masterKey: server.config.masterKey };
    const enrolment = await startTotpEnrolment(deps, user, '');
    const secret = enrolment.manualKey.replace(/ /g, '');
    await verifyTotpCode(deps, (await findFactor(server.database.db, user.id, enrolment.factorId))!, totpCode(secret, -30));

    // Without acr_values, single sign-on goes straight through.
    const sso = await startSignIn(ordinaryApp, agent);
    expect(sso.step.kind).toBe('redirect');

    const stepUp = await startSignIn(ordinaryApp, agent, { acr_values: authenticationLevels.mfa });
    expect(pageHtml(stepUp.step)).not.toContain('name="password"');
    expect(pageHtml(stepUp.step)).toContain('name="code"');
    await submit(stepUp, '/second-factor', { code: totpCode(secret) });
    const claims = await idTokenClaims(stepUp);
    expect(claims.sub).toBe(user.id);
    expect(claims.acr).toBe(authenticationLevels.mfa);
  });

  it('advertises both levels in discovery', async () => {
    const discovery = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(discovery['acr_values_supported']).toEqual([authenticationLevels.password, authenticationLevels.mfa]);
  });
});
