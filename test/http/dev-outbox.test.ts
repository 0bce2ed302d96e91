import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { User } from '../../src/db/schema.ts';
import { createUser, startTestServer, type TestServer } from '../support/server.ts';
import { codeIn } from '../support/sms-gateway.ts';
import { formsOf, UserAgent, type FollowResult } from '../support/user-agent.ts';

const password = 'hộp thư đi của nhà phát triển';

let server: TestServer;

beforeAll(async () => {
  // Neither SMTP_URL nor SMS_GATEWAY_URL: everything goes to the development outbox.
  server = await startTestServer({ MAIL_POLL_SECONDS: '0.2' });
});

afterAll(async () => {
  await server.stop();
});

const html = (step: FollowResult) => (step.kind === 'page' ? step.html : '');

async function signedInConsole(user: User): Promise<{ agent: UserAgent; page: FollowResult }> {
  const agent = new UserAgent();
  const login = await agent.follow(`${server.issuer}/account`, 'http://never/');
  const [form] = formsOf(html(login), server.issuer);
  const page = await agent.follow(form!.action, 'http://never/', { form: { ...form!.fields, login: user.username, password } });
  return { agent, page };
}

async function outbox(): Promise<string> {
  return (await new UserAgent().request(`${server.issuer}/dev/outbox`)).text();
}

describe('the development outbox at /dev/outbox', () => {
  it('shows the mail and text messages that would have been sent, decoded, with their links and codes', async () => {
    const user = await createUser(server, { username: 'hopthu', password, fullName: 'Lê Thị Hộp Thư', email: 'hopthu@tiengiang.gov.vn' });
    const { agent, page } = await signedInConsole(user);
    const phoneForm = formsOf(html(page), server.issuer).find((form) => form.action.endsWith('/account/phone'))!;
    const asked = await agent.follow(phoneForm.action, 'http://never/', { form: { ...phoneForm.fields, phone: '0912 345 678' } });
    expect(html(asked)).toContain('+84912345678');

    const forgot = await agent.follow(`${server.issuer}/account/forgot`, 'http://never/');
    const [forgotForm] = formsOf(html(forgot), server.issuer);
    await agent.follow(forgotForm!.action, 'http://never/', { form: { ...forgotForm!.fields, login: user.username } });

    await expect.poll(async () => (await outbox()).includes('hopthu@tiengiang.gov.vn'), { timeout: 10_000, interval: 200 }).toBe(true);
    const page2 = await outbox();
    expect(page2).toContain('Đặt lại mật khẩu Mekong ID / Reset your Mekong ID password');
    expect(page2).toContain(`${server.issuer}/account/reset?token=`);
    expect(page2).toContain('+84912345678');

    // The code on the page is the one that confirms the number.
    const code = codeIn(/ma xac nhan so dien thoai cua ban la (\d{6})/.exec(page2)?.[0]);
    const confirmForm = formsOf(html(asked), server.issuer).find((form) => form.action.endsWith('/account/phone/confirm'))!;
    const confirmed = await agent.follow(confirmForm.action, 'http://never/', { form: { ...confirmForm.fields, code } });
    expect(html(confirmed)).toContain('Đã lưu số điện thoại');
  });

  it('does not exist in production, where it would show other people\'s links', async () => {
    const production = await startTestServer({ NODE_ENV: 'production' });
    try {
      expect((await fetch(`${production.url}/dev/outbox`)).status).toBe(404);
    } finally {
      await production.stop();
    }
  });
});
