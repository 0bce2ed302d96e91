import type * as oidc from 'openid-client';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent, type HtmlForm } from '../support/user-agent.ts';
import {
  contentTypes,
  describeRequest,
  expectNoServerError,
  fuzzParameters,
  fuzzTestTimeoutMs,
  hostileHeaders,
  hostileString,
  invalidUtf8,
  percentEncode,
  rawRequest,
  type RawRequest,
} from './http-fuzz.ts';

/**
 * The sign-in pages' forms (login, second factor, TOTP enrolment, continue, consent, abort), posted
 * from browsers at each stage of a sign-in, or from none, with the CSRF token right, wrong or
 * missing, cookies whole, partial or forged, and any fields in any body. The answer is never a 5xx.
 */

const redirectUri = 'http://localhost:8095/callback';
const password = 'mật khẩu của người thử nghiệm';

let server: TestServer;
let portal: oidc.Configuration;
let hospital: oidc.Configuration;

/** A browser somewhere in a sign-in: its cookies and the forms on its current page. */
interface Browser {
  readonly agent: UserAgent;
  readonly uid: string;
  readonly forms: readonly HtmlForm[];
}

/** Browsers parked at later steps, shared by the runs: a consent page, and a TOTP enrolment that policy asks for. */
const parked: { consent: Browser[]; enrol: Browser[] } = { consent: [], enrol: [] };

/** Opens a sign-in at an app and, when credentials are given, gets past the password. */
async function browserAt(app: oidc.Configuration, credentials?: { login: string; password: string }): Promise<Browser> {
  const agent = new UserAgent();
  const { url } = await authorizationRequest(app, redirectUri, { scope: 'openid profile' });
  let page = await agent.follow(url.href, redirectUri);
  if (credentials && page.kind === 'page') {
    const login = formsOf(page.html, page.url).find((form) => form.action.endsWith('/login'))!;
    page = await agent.follow(login.action, redirectUri, { form: { ...login.fields, ...credentials } });
  }
  if (page.kind !== 'page') throw new Error(`expected a page, got a redirect to ${page.url}`);
  const uid = /\/interaction\/([^/?]+)/.exec(page.url)?.[1];
  if (!uid) throw new Error(`not an interaction page: ${page.url} (HTTP ${page.response.status})`);
  return { agent, uid, forms: formsOf(page.html, page.url) };
}

beforeAll(async () => {
  // The cheapest argon2 the configuration allows: the fuzzing posts many passwords, most throttled, some hashed.
  server = await startTestServer({ ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1' });
  await createUser(server, { username: 'phanvanhung', password, fullName: 'Phan Văn Hùng' });
  await createUser(server, { username: 'dothiyen', password, fullName: 'Đỗ Thị Yến' });
  // One person per parked enrolment: a person's new enrolment replaces their unconfirmed one (see the known bug below).
  await createUser(server, { username: 'huynhminhtri', password, fullName: 'Huỳnh Minh Trí' });
  await createUser(server, { username: 'ngothithu', password, fullName: 'Ngô Thị Thu' });
  await createUser(server, { username: 'lehuutrac', password, fullName: 'Lê Hữu Trác' });
  const portalClient = await registerTestClient(server, { name: 'Cổng thông tin điện tử', redirectUris: [redirectUri] });
  const hospitalClient = await registerTestClient(server, { name: 'Hệ thống quản lý bệnh viện', redirectUris: [redirectUri], firstParty: true, mfaRequired: true });
  portal = await discoverRelyingParty(server.issuer, portalClient.clientId, portalClient.clientSecret);
  hospital = await discoverRelyingParty(server.issuer, hospitalClient.clientId, hospitalClient.clientSecret);

  parked.consent.push(await browserAt(portal, { login: 'dothiyen', password }), await browserAt(portal, { login: 'dothiyen', password }));
  parked.enrol.push(await browserAt(hospital, { login: 'huynhminhtri', password }), await browserAt(hospital, { login: 'ngothithu', password }));
  expect(parked.consent[0]!.forms.some((form) => form.action.endsWith('/confirm'))).toBe(true);
  expect(parked.enrol[0]!.forms.some((form) => form.action.endsWith('/enrol-totp'))).toBe(true);
});

afterAll(async () => {
  await server?.stop();
});

/**
 * One run's plan, plain data so that a counterexample reads as what happened: which browser
 * posts, to which step of which interaction, with which cookies, token and fields.
 */
interface Plan {
  /** fresh: a new sign-in at its login page; consent, enrol: a parked browser; none: no browser at all. */
  readonly browser: 'fresh' | 'consent' | 'enrol' | 'none';
  readonly step: string;
  readonly method: string;
  /** own: the browser's interaction; other: a parked browser's; or any text at all. */
  readonly uid: string;
  readonly cookies: 'all' | 'without-csrf' | 'without-interaction' | 'forged' | 'none' | 'doubled';
  /** valid: the token on the browser's page; or what to send instead (null: no _csrf field). */
  readonly csrf: string | null;
  readonly fields: readonly [string, string][];
  readonly contentType: string | undefined;
  /** Sent as the body instead of the form, when set. */
  readonly rawBody: Buffer | string | undefined;
  readonly extraHeaders: readonly [string, string][];
}

/** A form field's value: one the page would take (the right password among them), or anything at all. */
const fieldValue = (name: string): fc.Arbitrary<string> => {
  const meaningful: Record<string, readonly string[]> = {
    login: ['phanvanhung', 'PHANVANHUNG', 'không có ai', 'phanvanhung@'],
    password: [password, 'sai mật khẩu', 'a'.repeat(1025)],
    method: ['totp', 'recovery_code', 'webauthn'],
    code: ['123456', '000 000', 'ABCD-EFGH-IJKL', '9'.repeat(65)],
    factor_id: ['{factorId}', '00000000-0000-0000-0000-000000000000'],
  };
  return fc.oneof({ arbitrary: fc.constantFrom(...(meaningful[name] ?? [''])), weight: 2 }, { arbitrary: hostileString, weight: 3 });
};

const plan: fc.Arbitrary<Plan> = fc.record({
  browser: fc.constantFrom('fresh', 'fresh', 'consent', 'enrol', 'none'),
  step: fc.oneof(
    { arbitrary: fc.constantFrom('login', 'second-factor', 'enrol-totp', 'continue', 'confirm', 'abort', ''), weight: 9 },
    { arbitrary: fc.constantFrom('login/', 'LOGIN', 'x', '..', '%2e%2e', 'login%00', '%C3%28'), weight: 1 },
  ),
  method: fc.oneof({ arbitrary: fc.constant('POST'), weight: 8 }, fc.constantFrom('GET', 'HEAD', 'PUT', 'OPTIONS', 'DELETE')),
  uid: fc.oneof({ arbitrary: fc.constant('own'), weight: 12 }, fc.constant('other'), hostileString.map(percentEncode), fc.constantFrom('', '%', '%C3%28', '%00')),
  cookies: fc.oneof({ arbitrary: fc.constant<Plan['cookies']>('all'), weight: 12 }, fc.constantFrom<Plan['cookies']>('without-csrf', 'without-interaction', 'forged', 'none', 'doubled')),
  csrf: fc.oneof({ arbitrary: fc.constant('valid'), weight: 8 }, fc.constant(null), hostileString),
  fields: fc
    .tuple(
      fc.tuple(...['login', 'password', 'method', 'code', 'factor_id'].map((name) =>
        fc.option(fieldValue(name).map((value): [string, string] => [name, value]), { freq: 4, nil: null }))),
      fc.array(fc.tuple(fc.constantFrom('_csrf', '__proto__', 'constructor', 'login[]', 'login[a]', 'a'), hostileString), { maxLength: 2 }),
    )
    .map(([known, extra]) => [...known.filter((field) => field !== null), ...extra]),
  contentType: fc.oneof({ arbitrary: fc.constant('application/x-www-form-urlencoded'), weight: 8 }, fc.constantFrom(...contentTypes), fc.constant(undefined)),
  rawBody: fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 20 },
    invalidUtf8,
    hostileString,
    fc.constantFrom(`login=${'a'.repeat(20_000)}`, 'login=%', '%%%', 'a=1&'.repeat(2000), 'login=a&login=b&login[x]=c'),
  ),
  extraHeaders: hostileHeaders,
});

/** "{factorId}" stands for the enrolment on the browser's page, known only once the browser is there. */
const placeholderFor = (text: string, browser: Browser | undefined) =>
  text.replace('{factorId}', browser?.forms.find((form) => form.fields['factor_id'])?.fields['factor_id'] ?? '');

/** Turns a plan into the request a browser in that state would send. */
async function requestFor(step: Plan, pick: number): Promise<RawRequest> {
  const browser = step.browser === 'fresh'
    ? await browserAt(portal)
    : step.browser === 'none' ? undefined : parked[step.browser][pick % parked[step.browser].length];
  const other = parked.consent[(pick + 1) % parked.consent.length]!;
  const uid = step.uid === 'own' ? browser?.uid ?? 'no-interaction' : step.uid === 'other' ? other.uid : step.uid;

  // The interaction cookie is scoped to the interaction's own path.
  const cookiesOf = (of: Browser) => of.agent.jar.getCookieString(`${server.issuer}/interaction/${of.uid}`);
  let cookies = browser ? await cookiesOf(browser) : '';
  const parts = cookies.split('; ').filter(Boolean);
  if (step.cookies === 'without-csrf') cookies = parts.filter((part) => !part.startsWith('mekong.csrf')).join('; ');
  if (step.cookies === 'without-interaction') cookies = parts.filter((part) => !part.startsWith('_interaction')).join('; ');
  if (step.cookies === 'forged') cookies = parts.map((part) => part.replace(/=(.)/, (_whole, first: string) => `=${first === 'A' ? 'B' : 'A'}`)).join('; ');
  if (step.cookies === 'doubled') cookies = `${cookies}; ${await cookiesOf(other)}`;
  if (step.cookies === 'none') cookies = '';

  const token = browser?.forms.find((form) => form.fields['_csrf'])?.fields['_csrf'] ?? '';
  const fields: [string, string][] = [
    ...(step.csrf === null ? [] : [['_csrf', step.csrf === 'valid' ? token : step.csrf] as [string, string]]),
    ...step.fields.map(([name, value]): [string, string] => [name, placeholderFor(value, browser)]),
  ];
  const body = step.rawBody ?? fields.map(([name, value]) => `${percentEncode(name)}=${percentEncode(value)}`).join('&');
  const headers: [string, string][] = [];
  if (cookies) headers.push(['Cookie', cookies]);
  if (step.contentType !== undefined) headers.push(['Content-Type', step.contentType]);
  headers.push(...step.extraHeaders);
  return { method: step.method, target: `/interaction/${uid}${step.step ? `/${step.step}` : ''}`, headers, body: step.method === 'GET' || step.method === 'HEAD' ? undefined : body };
}

describe('the sign-in forms under fuzzed posts', () => {
  it('answer any post, from a browser at any step or from none, with or without a valid CSRF token, without a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(plan, fc.nat(), async (step, pick) => {
        const request = await requestFor(step, pick);
        const response = await rawRequest(server.issuer, request);
        expectNoServerError(response, request);
        // A post that a browser did not make must never get past the CSRF check to a sign-in.
        const withoutToken = step.csrf !== 'valid' || step.rawBody !== undefined || ['without-csrf', 'none', 'forged'].includes(step.cookies);
        if (request.method === 'POST' && withoutToken) {
          expect(response.status, `${describeRequest(request)}\n→ ${response.status}`).not.toBe(303);
        }
      }),
      fuzzParameters(200),
    );
  }, fuzzTestTimeoutMs);

  /**
   * Found by the property above: a NUL in the login name reached PostgreSQL (which cannot store
   * U+0000) in the throttle's lookup, a 500. Every page form now refuses it (http/forms.ts).
   */
  it('refuse a login name with a NUL character as bad input, not a server error', async () => {
    const browser = await browserAt(portal);
    const login = browser.forms.find((form) => form.action.endsWith('/login'))!;
    const answer = await browser.agent.follow(login.action, redirectUri, { form: { ...login.fields, login: 'phanvanhung\u0000', password: 'sai mật khẩu' } });
    expect(answer.response.status).toBe(400);
  });

  /**
   * Found by the property above: starting a TOTP enrolment deletes the person's other unconfirmed
   * one, so a code typed into an older tab re-rendered a page for an enrolment that no longer
   * existed, a 500. The step is now shown as it stands.
   */
  it('answer a code typed into an older tab, whose enrolment a newer tab replaced, with the enrolment step', async () => {
    const older = await browserAt(hospital, { login: 'lehuutrac', password });
    await browserAt(hospital, { login: 'lehuutrac', password });
    const enrol = older.forms.find((form) => form.action.endsWith('/enrol-totp'))!;
    const answer = await older.agent.follow(enrol.action, redirectUri, { form: { ...enrol.fields, code: '123456' } });
    expect(answer.response.status).toBeLessThan(500);
    expect(answer.kind === 'page' && answer.html).toContain('/enrol-totp');
  });

  it('still sign a person in afterwards', async () => {
    const browser = await browserAt(portal);
    const login = browser.forms.find((form) => form.action.endsWith('/login'))!;
    const consent = await browser.agent.follow(login.action, redirectUri, { form: { ...login.fields, login: 'dothiyen', password } });
    expect(consent.kind === 'page' && consent.response.status).toBe(200);
  });
});
