import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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

describe('what a failed sign-in reveals through its timing', () => {
  it('takes as long for an unknown name as for a wrong password, over many interleaved tries', async () => {
    const agent = new UserAgent();
    const { url } = await authorizationRequest(app, redirectUri);
    const page = await agent.follow(url.href, redirectUri);
    const [form] = formsOf(page.kind === 'page' ? page.html : '', server.issuer);
    const attempt = async (login: string) => {
      const started = performance.now();
      const response = await agent.request(form!.action, { form: { ...form!.fields, login, password: 'một mật khẩu sai' } });
      const elapsed = performance.now() - started;
      expect(response.status).toBe(401);
      await response.text();
      return elapsed;
    };

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
    // Each costs one full argon2 verification; what differs (a row found or not) is far below it.
    expect(Math.abs(known - unknown), `medians: wrong password ${known.toFixed(1)} ms, unknown name ${unknown.toFixed(1)} ms`)
      .toBeLessThan(Math.max(0.25 * known, 10));
  });
});
