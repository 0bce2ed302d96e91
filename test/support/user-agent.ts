import { CookieJar } from 'tough-cookie';

/**
 * A browser without a browser: fetch with a cookie jar and redirects followed by hand, so a test can
 * post the real login form over HTTP and see every hop. Stops before leaving for the app's
 * redirect URI, which is where the relying party takes over.
 */
export class UserAgent {
  readonly jar = new CookieJar();

  async request(
    url: string,
    init: { method?: string; form?: Record<string, string>; multipart?: FormData; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = await this.jar.getCookieString(url);
    if (cookie) headers.set('cookie', cookie);
    let body: string | FormData | undefined = init.multipart;
    if (init.form) {
      headers.set('content-type', 'application/x-www-form-urlencoded');
      body = new URLSearchParams(init.form).toString();
    }
    const response = await fetch(url, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, redirect: 'manual' });
    for (const setCookie of response.headers.getSetCookie()) await this.jar.setCookie(setCookie, url);
    return response;
  }

  /**
   * Follows redirects from `url` until a page answers, or until the next hop starts with `stopAt`.
   * Headers given (say, Accept-Language) go with every hop, as a browser's would.
   */
  async follow(url: string, stopAt: string, init: Parameters<UserAgent['request']>[1] = {}): Promise<FollowResult> {
    let response = await this.request(url, init);
    let current = url;
    const visited = [url];
    for (let hops = 0; hops < 20; hops += 1) {
      const location = response.headers.get('location');
      if (!location || response.status < 300 || response.status >= 400) {
        return { kind: 'page', url: current, response, html: await response.text(), visited };
      }
      const next = new URL(location, current).toString();
      if (next.startsWith(stopAt)) return { kind: 'redirect', url: next, response, visited };
      current = next;
      visited.push(next);
      response = await this.request(next, init.headers ? { headers: init.headers } : {});
    }
    throw new Error(`too many redirects from ${url}`);
  }
}

/** Where a browser ended up, and every URL it requested on the way (`url` is the last one, or the redirect it stopped at). */
export type FollowResult =
  | { kind: 'page'; url: string; response: Response; html: string; visited: string[] }
  | { kind: 'redirect'; url: string; response: Response; visited: string[] };

export interface HtmlForm {
  action: string;
  fields: Record<string, string>;
}

/** The forms on a page with their hidden fields, read the way a browser would submit them. */
export function formsOf(html: string, baseUrl: string): HtmlForm[] {
  return [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)].map((match) => {
    const action = /action="([^"]*)"/.exec(match[1] ?? '')?.[1] ?? '';
    const fields: Record<string, string> = {};
    for (const input of (match[2] ?? '').matchAll(/<input\b[^>]*type="hidden"[^>]*>/g)) {
      const name = /name="([^"]*)"/.exec(input[0])?.[1];
      const value = /value="([^"]*)"/.exec(input[0])?.[1];
      if (name) fields[name] = decodeEntities(value ?? '');
    }
    return { action: new URL(decodeEntities(action), baseUrl).toString(), fields };
  });
}

function decodeEntities(value: string): string {
  return value.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}

/**
 * Follows an authorization URL through the real pages as a person would: the login form with these
 * credentials, then whatever single-button steps follow (consent), until the provider redirects to
 * `stopAt` or a page with no form answers.
 */
export async function signInAt(agent: UserAgent, url: string, stopAt: string, credentials: { login: string; password: string }): Promise<FollowResult> {
  return continueSignIn(agent, await agent.follow(url, stopAt), stopAt, credentials);
}

/** The same, from a page already reached (a device code confirmed, say). */
export async function continueSignIn(agent: UserAgent, from: FollowResult, stopAt: string, credentials: { login: string; password: string }): Promise<FollowResult> {
  let step = from;
  for (let pages = 0; step.kind === 'page' && step.response.ok && pages < 3; pages += 1) {
    const [form] = formsOf(step.html, step.url);
    if (!form) break;
    const fields = form.action.endsWith('/login') ? { ...form.fields, ...credentials } : form.fields;
    step = await agent.follow(form.action, stopAt, { form: fields });
  }
  return step;
}

/** The page's HTML, or nothing for a redirect. */
export const htmlOf = (step: FollowResult) => (step.kind === 'page' ? step.html : '');

/**
 * Opens one of Mekong ID's consoles (/admin, /developers) as a browser would: sent to sign in, the
 * login form with these credentials, and back to the page asked for.
 */
export async function openConsoleAs(url: string, credentials: { login: string; password: string }): Promise<{ agent: UserAgent; page: FollowResult }> {
  const agent = new UserAgent();
  const login = await agent.follow(url, 'http://never/');
  const [form] = formsOf(htmlOf(login), login.url);
  if (!form) throw new Error(`no sign-in form at ${login.url} (HTTP ${login.response.status})`);
  const page = await agent.follow(form.action, 'http://never/', { form: { ...form.fields, ...credentials } });
  return { agent, page };
}

/** Posts the form on `page` whose action's path ends with `action`, following the redirect after it. */
export async function submitForm(agent: UserAgent, page: FollowResult, action: string, fields: Record<string, string> = {}): Promise<FollowResult> {
  const form = formsOf(htmlOf(page), page.url).find((candidate) => new URL(candidate.action).pathname.endsWith(action));
  if (!form) throw new Error(`no form posting to …${action} on ${page.url}`);
  return agent.follow(form.action, 'http://never/', { form: { ...form.fields, ...fields } });
}
