import { expect } from 'vitest';

import type { TestServer } from './server.ts';
import { formsOf, UserAgent, type FollowResult } from './user-agent.ts';

/** A console page's HTML (empty for a redirect). */
export const htmlOf = (step: FollowResult) => (step.kind === 'page' ? step.html : '');

/** Opens the admin console as a browser would: redirected to sign in, the login form, back to the page asked for. */
export async function openAdminConsole(server: TestServer, path: string, credentials: { login: string; password: string }): Promise<{ agent: UserAgent; page: FollowResult }> {
  const agent = new UserAgent();
  const login = await agent.follow(`${server.issuer}${path}`, 'http://never/');
  const [form] = formsOf(htmlOf(login), login.url);
  const page = await agent.follow(form!.action, 'http://never/', { form: { ...form!.fields, ...credentials } });
  return { agent, page };
}

/** Posts the form on `page` whose action ends with `action`, with its hidden fields and these, following the redirect after it. */
export async function submitConsoleForm(server: TestServer, agent: UserAgent, page: FollowResult, action: string, fields: Record<string, string> = {}): Promise<FollowResult> {
  const form = formsOf(htmlOf(page), server.issuer).find((candidate) => new URL(candidate.action).pathname.endsWith(action));
  expect(form, `a form posting to …${action}`).toBeDefined();
  return agent.follow(form!.action, 'http://never/', { form: { ...form!.fields, ...fields } });
}
