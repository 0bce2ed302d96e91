import { createHash, randomBytes } from 'node:crypto';

import { CookieJar } from 'tough-cookie';
import { Pool } from 'undici';

/**
 * The undici-based driver for everything that is more than one request: an app and a person's
 * browser in one. A sign-in goes authorize → login page (with its CSRF cookie) → POST the form
 * (a first-party app's consent is given with it) → the code at the redirect URI → the token endpoint
 * with the PKCE verifier, exactly as a browser and an app would, cookies included.
 */

export interface WebClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUri: string;
}

export interface TokenSet {
  readonly access_token: string;
  readonly refresh_token?: string;
  readonly id_token?: string;
}

export interface Credentials {
  readonly login: string;
  readonly password: string;
}

/** Keep-alive connections to one server, shared by the workers of a scenario. */
export interface Connections {
  readonly origin: string;
  readonly pool: Pool;
}

export function openConnections(origin: string, connections: number): Connections {
  return { origin, pool: new Pool(origin, { connections, pipelining: 1 }) };
}

export const basicAuthorization = (clientId: string, clientSecret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;

interface Answer {
  readonly status: number;
  readonly location: string | null;
  readonly body: string;
}

/** One request as a browser sends it: the jar's cookies out, Set-Cookie back in, redirects not followed. */
async function browse(connections: Connections, jar: CookieJar, url: string, form?: Record<string, string>): Promise<Answer> {
  const headers: Record<string, string> = { accept: 'text/html', 'accept-language': 'vi' };
  const cookie = await jar.getCookieString(url);
  if (cookie) headers['cookie'] = cookie;
  if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
  const target = new URL(url);
  const response = await connections.pool.request({
    method: form ? 'POST' : 'GET',
    path: `${target.pathname}${target.search}`,
    headers,
    ...(form ? { body: new URLSearchParams(form).toString() } : {}),
  });
  const setCookie = response.headers['set-cookie'];
  for (const value of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]) await jar.setCookie(value, url);
  const location = response.headers['location'];
  return {
    status: response.statusCode,
    location: typeof location === 'string' ? new URL(location, url).href : null,
    body: await response.body.text(),
  };
}

/** The login form's action and CSRF field, read off the page as a browser would submit them. */
export function loginFormOf(html: string, pageUrl: string): { action: string; csrf: string } | null {
  const form = /<form\b[^>]*action="([^"]*\/login)"[^>]*>([\s\S]*?)<\/form>/.exec(html);
  const csrf = form ? /<input\b[^>]*name="_csrf"[^>]*value="([^"]*)"/.exec(form[2]!)?.[1] : undefined;
  if (!form || csrf === undefined) return null;
  const unescape = (value: string) => value.replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#39;', "'");
  return { action: new URL(unescape(form[1]!), pageUrl).href, csrf: unescape(csrf) };
}

/**
 * A whole sign-in with a fresh browser (no session yet), ending in tokens. `offline_access` needs
 * prompt=consent (OIDC Core 11); a first-party app's consent is still given with the login, without a page.
 */
export async function signIn(connections: Connections, client: WebClient, credentials: Credentials, scope: string): Promise<TokenSet> {
  const jar = new CookieJar();
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const authorize = new URL('/auth', connections.origin);
  authorize.search = new URLSearchParams({
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    response_type: 'code',
    scope,
    state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...(scope.split(' ').includes('offline_access') ? { prompt: 'consent' } : {}),
  }).toString();

  let url = authorize.href;
  let answer = await browse(connections, jar, url);
  let postedForm = false;
  for (let hops = 0; hops < 12; hops += 1) {
    if (answer.location !== null && answer.status >= 300 && answer.status < 400) {
      if (answer.location.startsWith(client.redirectUri)) return redeemCode(connections, client, new URL(answer.location), state, verifier);
      url = answer.location;
      answer = await browse(connections, jar, url);
      continue;
    }
    const form = answer.status === 200 && !postedForm ? loginFormOf(answer.body, url) : null;
    if (!form) throw new Error(`the sign-in stopped at ${new URL(url).pathname} with HTTP ${answer.status}${postedForm ? ' after the login form was sent' : ''}`);
    postedForm = true;
    url = form.action;
    answer = await browse(connections, jar, url, { _csrf: form.csrf, login: credentials.login, password: credentials.password });
  }
  throw new Error('the sign-in went through too many redirects');
}

async function redeemCode(connections: Connections, client: WebClient, callback: URL, state: string, verifier: string): Promise<TokenSet> {
  if (callback.searchParams.get('state') !== state) throw new Error('the callback carried another state');
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`the callback carried no code: ${callback.searchParams.get('error') ?? ''} ${callback.searchParams.get('error_description') ?? ''}`);
  return tokenRequest(connections, client, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier });
}

/** The token endpoint, with client_secret_basic; anything but 200 with an access token is a failure. */
export async function tokenRequest(connections: Connections, client: Pick<WebClient, 'clientId' | 'clientSecret'>, form: Record<string, string>): Promise<TokenSet> {
  const response = await connections.pool.request({
    method: 'POST',
    path: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(client.clientId, client.clientSecret) },
    body: new URLSearchParams(form).toString(),
  });
  const body = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`${form['grant_type'] ?? 'token'} answered HTTP ${response.statusCode}: ${body.slice(0, 200)}`);
  const tokens = JSON.parse(body) as Partial<TokenSet>;
  if (typeof tokens.access_token !== 'string') throw new Error(`${form['grant_type'] ?? 'token'} answered without an access token`);
  return tokens as TokenSet;
}
