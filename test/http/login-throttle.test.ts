import { setTimeout as sleep } from 'node:timers/promises';

import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import { insertUser } from '../../src/db/queries/users.ts';
import type { AuditEvent, OrgUnit, User } from '../../src/db/schema.ts';
import { buildProvinceTree, expectAuditedRefusal, serviceCaller, type ApiCall, type ProvinceTree } from '../support/admin-api.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent, type FollowResult } from '../support/user-agent.ts';

/*
 * Brute-force protection as people and attackers meet it: the real login page of a real server.
 * The server trusts a proxy (TRUST_PROXY), so the X-Forwarded-For each browser sends stands for the
 * address the attempt comes from. Addresses are from the documentation ranges (RFC 5737).
 */

const redirectUri = 'http://localhost:8095/callback';
const password = 'mật khẩu đúng của người này';
const wrongPassword = 'một mật khẩu đoán sai';

/** Small numbers, so that a test reaches each threshold in a few attempts. */
const smallThresholds = {
  TRUST_PROXY: 'true',
  LOGIN_DELAY_AFTER_FAILURES: '2',
  LOGIN_LOCKOUT_THRESHOLD: '4',
  LOGIN_LOCKOUT_SECONDS: '600',
  LOGIN_MAX_DELAY_SECONDS: '3600',
};

interface Site {
  readonly server: TestServer;
  readonly tree: ProvinceTree;
  readonly relyingParty: oidc.Configuration;
  readonly superAdmin: ApiCall;
}

/** A fresh server with these settings and the province tree for the describe block that calls it. */
function useThrottledServer(overrides: Record<string, string>): Site {
  const site: { -readonly [K in keyof Site]?: Site[K] } = {};
  beforeAll(async () => {
    const server = await startTestServer(overrides);
    site.server = server;
    site.tree = await buildProvinceTree(server);
    site.superAdmin = (await serviceCaller(server, 'super_admin', null, 'Sở Thông tin và Truyền thông')).api;
    const client = await registerTestClient(server, { name: 'Cổng dịch vụ công', redirectUris: [redirectUri], firstParty: true });
    site.relyingParty = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
  });
  afterAll(async () => {
    await site.server?.stop();
  });
  return site as Site;
}

/** Someone who can sign in, working in `unit`. */
async function addPersonWithPassword(site: Site, username: string, unit: OrgUnit): Promise<User> {
  return insertUser(site.server.database.db, {
    username, full_name: username, email: null, phone: null, primary_org_unit_id: unit.id,
    password_hash: await site.server.passwords.hash(password), status: 'active',
  });
}

interface Attempt {
  readonly status: number;
  readonly retryAfter: string | null;
  /** The message in the page's alert box, if any. */
  readonly alert: string | null;
  readonly html: string;
  /** The browser went back to the app with a code. */
  readonly signedIn: boolean;
}

/**
 * A browser on the login page, behind the proxy that sends `forwardedFor` as X-Forwarded-For (the
 * browser's address, as a rule). Each submission posts the form of the page it is on, as someone
 * retyping a password would: no new authorization request between attempts.
 */
async function openLoginPage(site: Site, forwardedFor: string) {
  const agent = new UserAgent();
  const headers = { 'x-forwarded-for': forwardedFor };
  const { url } = await authorizationRequest(site.relyingParty, redirectUri);
  const first = await agent.follow(url.href, redirectUri, { headers });
  if (first.kind !== 'page') throw new Error('expected the login page');
  let form = formsOf(first.html, first.url)[0]!;
  return {
    async submit(login: string, secret: string): Promise<Attempt> {
      const result: FollowResult = await agent.follow(form.action, redirectUri, { form: { ...form.fields, login, password: secret }, headers });
      if (result.kind === 'redirect') {
        return { status: result.response.status, retryAfter: null, alert: null, html: '', signedIn: new URL(result.url).searchParams.has('code') };
      }
      form = formsOf(result.html, result.url)[0] ?? form;
      const alert = /<p class="alert" role="alert">([^<]*)<\/p>/.exec(result.html)?.[1] ?? null;
      return { status: result.response.status, retryAfter: result.response.headers.get('retry-after'), alert, html: result.html, signedIn: false };
    },
  };
}

/** One attempt from a fresh browser at `address`. */
async function attemptFrom(site: Site, address: string, login: string, secret: string): Promise<Attempt> {
  return (await openLoginPage(site, address)).submit(login, secret);
}

/** A page as any two visitors would see it: without its interaction, its CSRF token and the name typed. */
const withoutParticulars = (html: string, login: string) =>
  html
    .replace(/\/interaction\/[^/"?]+/g, '/interaction/UID')
    .replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value="TOKEN"')
    // Every login page offers a fresh passkey challenge, whoever the name belongs to.
    .replace(/data-options="[^"]*"/g, 'data-options="OPTIONS"')
    .replaceAll(`value="${login}"`, 'value="LOGIN"');

const auditEvents = (site: Site, action: string): Promise<AuditEvent[]> =>
  listAuditEvents(site.server.database.db, { action, subtrees: null, limit: 200 });

async function loginsByOutcome(site: Site, outcome: string): Promise<number> {
  // No X-Forwarded-For: the scrape comes from loopback, which /metrics lets in outside production.
  const response = await fetch(`${site.server.issuer}/metrics`);
  expect(response.status).toBe(200);
  const line = (await response.text()).split('\n').find((candidate) => candidate.startsWith(`mekong_logins_total{outcome="${outcome}"} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

describe('the delay after a few wrong passwords from one address', () => {
  const site = useThrottledServer(smallThresholds);

  it('refuses the next attempt with 429, Retry-After and the seconds to wait, without checking the password, even a correct one', async () => {
    const person = await addPersonWithPassword(site, 'nguyenvanan', site.tree.anHuu);
    const page = await openLoginPage(site, '203.0.113.10');
    expect((await page.submit('nguyenvanan', wrongPassword)).status).toBe(401);
    expect((await page.submit('nguyenvanan', wrongPassword)).status).toBe(401);

    // The second failure owes one second (the delay doubles from there): the two attempts below
    // come straight after it, on the same page, well within that second.
    const guess = await page.submit('nguyenvanan', wrongPassword);
    expect(guess).toMatchObject({ status: 429, retryAfter: '1', alert: 'Đã nhập sai nhiều lần. Hãy thử lại sau 1 giây.' });
    const rightPassword = await page.submit('nguyenvanan', password);
    expect(rightPassword).toMatchObject({ status: 429, signedIn: false, alert: `Đã nhập sai nhiều lần. Hãy thử lại sau ${rightPassword.retryAfter} giây.` });

    // Neither refused attempt reached the password check: no failure or success was recorded for them.
    expect(await auditEvents(site, 'login.failure').then((events) => events.filter((event) => event.target_id === person.id))).toHaveLength(2);
    expect(await auditEvents(site, 'login.success').then((events) => events.filter((event) => event.target_id === person.id))).toEqual([]);

    await sleep(Number(rightPassword.retryAfter) * 1000);
    expect(await page.submit('nguyenvanan', password)).toMatchObject({ signedIn: true });
  });

  it('slows down only the address that failed: the person signs in at once from another one', async () => {
    await addPersonWithPassword(site, 'tranthibinh', site.tree.anHuu);
    const page = await openLoginPage(site, '203.0.113.11');
    await page.submit('tranthibinh', wrongPassword);
    await page.submit('tranthibinh', wrongPassword);
    expect((await page.submit('tranthibinh', password)).status).toBe(429);
    expect(await attemptFrom(site, '198.51.100.11', 'tranthibinh', password)).toMatchObject({ signedIn: true });
  });

  it('answers an unknown name exactly as a known name with a wrong password: same status, Retry-After and page', async () => {
    await addPersonWithPassword(site, 'levancuong', site.tree.anHuu);
    const known = await openLoginPage(site, '203.0.113.12');
    const unknown = await openLoginPage(site, '203.0.113.12');
    const knownAttempts = [];
    const unknownAttempts = [];
    for (let n = 0; n < 3; n += 1) {
      knownAttempts.push(await known.submit('levancuong', wrongPassword));
      unknownAttempts.push(await unknown.submit('levancuonq', wrongPassword));
    }
    expect(knownAttempts.map((attempt) => attempt.status)).toEqual([401, 401, 429]);
    expect(unknownAttempts.map((attempt) => [attempt.status, attempt.retryAfter, attempt.alert]))
      .toEqual(knownAttempts.map((attempt) => [attempt.status, attempt.retryAfter, attempt.alert]));
    expect(withoutParticulars(unknownAttempts[2]!.html, 'levancuonq')).toBe(withoutParticulars(knownAttempts[2]!.html, 'levancuong'));
  });

  it('counts each refused attempt in mekong_logins_total{outcome="throttled"}, and not as a wrong password', async () => {
    const throttledBefore = await loginsByOutcome(site, 'throttled');
    const invalidBefore = await loginsByOutcome(site, 'invalid_credentials');
    const page = await openLoginPage(site, '203.0.113.13');
    const statuses = [];
    for (let n = 0; n < 5; n += 1) statuses.push((await page.submit('phamthidung', wrongPassword)).status);
    expect(statuses).toEqual([401, 401, 429, 429, 429]);
    expect(await loginsByOutcome(site, 'throttled')).toBe(throttledBefore + 3);
    expect(await loginsByOutcome(site, 'invalid_credentials')).toBe(invalidBefore + 2);
  });

  it('checks no more passwords than LOGIN_DELAY_AFTER_FAILURES when one address sends its guesses all at once', async () => {
    await addPersonWithPassword(site, 'hoangvanem', site.tree.anHuu);
    const pages = await Promise.all(Array.from({ length: 8 }, () => openLoginPage(site, '203.0.113.14')));
    const attempts = await Promise.all(pages.map((page, n) => page.submit('hoangvanem', `${wrongPassword} ${n}`)));
    expect(attempts.filter((attempt) => attempt.status === 401)).toHaveLength(2);
    expect(attempts.filter((attempt) => attempt.status === 429)).toHaveLength(6);
  });

  it('takes the address the proxy saw, not one the client wrote in X-Forwarded-For in front of it', async () => {
    await addPersonWithPassword(site, 'dothiphuong', site.tree.anHuu);
    const statuses = [];
    for (let n = 1; n <= 4; n += 1) {
      const page = await openLoginPage(site, `192.0.2.${n}, 203.0.113.15`);
      statuses.push((await page.submit('dothiphuong', wrongPassword)).status);
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
    expect(await attemptFrom(site, '198.51.100.15', 'dothiphuong', password)).toMatchObject({ signedIn: true });
  });
});

describe('locking a name after failures from several addresses', () => {
  // No delays here (the threshold is never reached), so that only the lock is at work.
  const site = useThrottledServer({ ...smallThresholds, LOGIN_DELAY_AFTER_FAILURES: '1000' });

  /** LOGIN_LOCKOUT_THRESHOLD (4) wrong passwords for `login`, two from each of two addresses. */
  async function failFromTwoAddresses(login: string, addresses: readonly [string, string]) {
    const statuses = [];
    for (const address of addresses) {
      const page = await openLoginPage(site, address);
      statuses.push((await page.submit(login, wrongPassword)).status, (await page.submit(login, wrongPassword)).status);
    }
    // The attempt that locks is itself answered as a wrong password: the lock applies from the next.
    expect(statuses).toEqual([401, 401, 401, 401]);
  }

  const lockedMessage = 'Tên đăng nhập này tạm thời bị khóa vì nhập sai quá nhiều lần. Hãy thử lại sau khoảng 10 phút, hoặc liên hệ bộ phận hỗ trợ để mở khóa.';

  it('is never done by one address alone: after three times the threshold, the person still signs in from another address', async () => {
    const person = await addPersonWithPassword(site, 'vothigiang', site.tree.anHuu);
    const page = await openLoginPage(site, '203.0.113.20');
    const statuses = [];
    for (let n = 0; n < 12; n += 1) statuses.push((await page.submit('vothigiang', wrongPassword)).status);
    expect(statuses).toEqual(Array(12).fill(401));
    expect(await attemptFrom(site, '198.51.100.20', 'vothigiang', password)).toMatchObject({ signedIn: true });
    expect((await auditEvents(site, 'login.lockout')).filter((event) => event.target_id === person.id)).toEqual([]);
  });

  it('refuses even the right password from a third address with 429 and the locked message, and audits the lockout', async () => {
    const person = await addPersonWithPassword(site, 'buivanhung', site.tree.anHuu);
    await failFromTwoAddresses('buivanhung', ['203.0.113.21', '198.51.100.21']);

    const rightPassword = await attemptFrom(site, '192.0.2.21', 'buivanhung', password);
    expect(rightPassword).toMatchObject({ status: 429, signedIn: false, alert: lockedMessage });
    expect(Number(rightPassword.retryAfter)).toBeGreaterThan(590);
    expect(Number(rightPassword.retryAfter)).toBeLessThanOrEqual(600);
    // The lock is on the name, however it is typed.
    expect(await attemptFrom(site, '192.0.2.21', 'BuiVanHung', password)).toMatchObject({ status: 429, alert: lockedMessage });

    const lockouts = (await auditEvents(site, 'login.lockout')).filter((event) => event.target_id === person.id);
    expect(lockouts).toHaveLength(1);
    expect(lockouts[0]).toMatchObject({
      actor_type: 'system', outcome: 'denied', target_type: 'user', target_id: person.id, org_unit_id: site.tree.anHuu.id,
      details: { login: 'buivanhung', failures: 4, addresses: 2 },
    });
  });

  it('locks an unknown name the same way, with the same page', async () => {
    await addPersonWithPassword(site, 'ngothikim', site.tree.anHuu);
    await failFromTwoAddresses('ngothikim', ['203.0.113.22', '198.51.100.22']);
    await failFromTwoAddresses('ngothikin', ['203.0.113.23', '198.51.100.23']);
    const known = await attemptFrom(site, '192.0.2.22', 'ngothikim', password);
    const unknown = await attemptFrom(site, '192.0.2.22', 'ngothikin', password);
    expect([unknown.status, unknown.alert]).toEqual([429, lockedMessage]);
    expect([known.status, known.alert]).toEqual([429, lockedMessage]);
    expect(Math.abs(Number(unknown.retryAfter) - Number(known.retryAfter))).toBeLessThanOrEqual(1);
    expect(withoutParticulars(unknown.html, 'ngothikin')).toBe(withoutParticulars(known.html, 'ngothikim'));
    // The lockout of a name that matches nobody is audited too, by a hint of what was typed.
    const unknownLockout = (await auditEvents(site, 'login.lockout')).find((event) => event.details?.['login'] === 'ngo… (9 characters)');
    expect(unknownLockout).toMatchObject({ target_id: null, outcome: 'denied', details: { failures: 4, addresses: 2 } });
  });

  describe('unlocking by the helpdesk', () => {
    it('lets the person sign in at once after a helpdesk over their unit unlocks them, and audits it', async () => {
      const person = await addPersonWithPassword(site, 'dangvanlam', site.tree.anHuuHealthStation);
      await failFromTwoAddresses('dangvanlam', ['203.0.113.24', '198.51.100.24']);
      expect((await attemptFrom(site, '192.0.2.24', 'dangvanlam', password)).status).toBe(429);

      const helpdesk = await serviceCaller(site.server, 'helpdesk', site.tree.caiBe, 'Hỗ trợ huyện Cái Bè');
      const unlocked = await helpdesk.api('POST', `/users/${person.id}/unlock`);
      expect(unlocked.status).toBe(200);
      expect(unlocked.body).toMatchObject({ id: person.id, username: 'dangvanlam' });
      expect((await auditEvents(site, 'user.unlock')).filter((event) => event.target_id === person.id)).toEqual([
        expect.objectContaining({ actor_type: 'client', actor_id: helpdesk.clientId, outcome: 'success', org_unit_id: site.tree.anHuuHealthStation.id }),
      ]);
      expect(await attemptFrom(site, '192.0.2.24', 'dangvanlam', password)).toMatchObject({ signedIn: true });
    });

    it('refuses a helpdesk of another subtree with 403, audited, and the name stays locked', async () => {
      const person = await addPersonWithPassword(site, 'maithinga', site.tree.anHuu);
      await failFromTwoAddresses('maithinga', ['203.0.113.25', '198.51.100.25']);

      const elsewhere = await serviceCaller(site.server, 'helpdesk', site.tree.choGao, 'Hỗ trợ huyện Chợ Gạo');
      await expectAuditedRefusal(site.superAdmin, await elsewhere.api('POST', `/users/${person.id}/unlock`), 'user.unlock');
      expect(await attemptFrom(site, '192.0.2.25', 'maithinga', password)).toMatchObject({ status: 429, alert: lockedMessage });
    });
  });
});
