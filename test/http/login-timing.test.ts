import argon2 from 'argon2';
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent } from '../support/user-agent.ts';

const redirectUri = 'http://localhost:8089/callback';

let server: TestServer;
let app: oidc.Configuration;

beforeAll(async () => {
  // Throttling would answer both kinds of attempt early, and equally; here the password check itself is measured.
  server = await startTestServer({ LOGIN_DELAY_AFTER_FAILURES: '1000', LOGIN_LOCKOUT_THRESHOLD: '1000', LOGIN_ADDRESS_MAX_FAILURES: '100000' });
  await createUser(server, { username: 'nguoicothat', password: 'mật khẩu thật của người có thật' });
  const client = await registerTestClient(server, { name: 'Ứng dụng', redirectUris: [redirectUri], firstParty: true });
  app = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
});

afterAll(async () => {
  await server.stop();
});

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

/** Opens the login form once; each call of what it returns is a failed attempt there: how long it took, and how many argon2 verifications the server ran for it. */
async function loginForm() {
  const agent = new UserAgent();
  const { url } = await authorizationRequest(app, redirectUri);
  const page = await agent.follow(url.href, redirectUri);
  const [form] = formsOf(page.kind === 'page' ? page.html : '', server.issuer);
  return async (login: string) => {
    const verify = vi.spyOn(argon2, 'verify');
    try {
      const started = performance.now();
      const response = await agent.request(form!.action, { form: { ...form!.fields, login, password: 'một mật khẩu sai' } });
      const elapsed = performance.now() - started;
      expect(response.status).toBe(401);
      await response.text();
      return { elapsed, verifications: verify.mock.calls.length };
    } finally {
      verify.mockRestore();
    }
  };
}

describe('what a failed sign-in reveals through its timing', () => {
  it('runs one full argon2 verification for an unknown name, as for a wrong password', async () => {
    const attempt = await loginForm();
    expect((await attempt('nguoicothat')).verifications).toBe(1);
    expect((await attempt('khong.ton.tai.nao')).verifications).toBe(1);
  });

  it('takes as long for an unknown name as for a wrong password, over many interleaved tries', async () => {
    const tryLogin = await loginForm();
    const attempt = async (login: string) => (await tryLogin(login)).elapsed;

    await attempt('nguoicothat');
    await attempt('khong.ton.tai.0');
    const wrongPassword: number[] = [];
    const unknownName: number[] = [];
    // Interleaved, so that whatever else the machine does weighs on both alike.
    for (let round = 1; round <= 15; round += 1) {
      wrongPassword.push(await attempt('nguoicothat'));
      unknownName.push(await attempt(`khong.ton.tai.${round}`));
    }
    const known = median(wrongPassword);
    const unknown = median(unknownName);
    // Each costs one full argon2 verification; what differs (a row found or not) is far below it. An
    // unknown name answered without that verification would take a small fraction of the time. The
    // bound leaves room for the other test files sharing the two cores: it is there to catch a skipped
    // verification, not the machine's noise.
    expect(Math.abs(known - unknown), `medians: wrong password ${known.toFixed(1)} ms, unknown name ${unknown.toFixed(1)} ms`)
      .toBeLessThan(Math.max(0.5 * Math.max(known, unknown), 10));
  });
});
