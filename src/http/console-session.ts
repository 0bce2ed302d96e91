import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Kysely } from 'kysely';
import type Provider from 'oidc-provider';
import { z } from 'zod';

import { findLiveSessionByUid } from '../db/queries/oidc-payloads.ts';
import { findUserById } from '../db/queries/users.ts';
import type { Database, User } from '../db/schema.ts';
import { consoleCallback, type BuiltInConsole } from '../domain/built-in-clients.ts';
import { AppError, localizable, type LocalizableMessage } from '../errors.ts';
import { requireCsrfToken } from './csrf.ts';
import { formBody } from './forms.ts';

/**
 * How Mekong ID's own consoles (the account console at /account, the admin console at /admin) know
 * who is there. Each signs people in through Mekong ID like any app: an authorization request with
 * PKCE and a state, the usual login (and second factor) pages, and a code at its callback. The code
 * is redeemed in-process rather than over HTTP to /token, checked the way /token would check it.
 * The console then keeps, in a signed cookie, the uid of the provider session that the code came
 * from; every request checks that this session is still alive, so signing out anywhere (or an
 * admin disabling the person) ends the console too.
 */
export interface ConsoleSession {
  readonly user: User;
  /** The provider session's uid, which the sessions page marks as "this device". */
  readonly sessionUid: string;
  /** When the person last showed their credentials, in epoch seconds. */
  readonly authTime: number;
  readonly amr: readonly string[];
}

export interface ConsoleSessionDeps {
  readonly db: Kysely<Database>;
  readonly issuer: string;
  readonly provider: () => Provider;
}

/** A sensitive change (factors, recovery codes) needs a sign-in this recent; older ones are sent to sign in again. */
export const recentAuthenticationSeconds = 10 * 60;

const loginStateSchema = z.object({ state: z.string(), verifier: z.string(), returnTo: z.string() });
type LoginState = z.infer<typeof loginStateSchema>;

const sessionCookieSchema = z.object({ uid: z.string(), sub: z.string(), authTime: z.number(), amr: z.array(z.string()) });
type SessionCookie = z.infer<typeof sessionCookieSchema>;

export interface ConsoleSessions {
  /** Sends the browser to sign in, remembering where in the console it was going. */
  redirectToSignIn(deps: ConsoleSessionDeps, ctx: Context, options?: { returnTo?: string | undefined; forceLogin?: boolean }): void;
  /** The callback: answers where in the console to go next. */
  completeSignIn(deps: ConsoleSessionDeps, ctx: Context): Promise<string>;
  /** Middleware: the signed-in person in `ctx.state.console` (see sessionOf), or off to sign in. */
  requireSession(deps: ConsoleSessionDeps): (ctx: Context, next: Next) => Promise<void>;
  endSession(ctx: Context): void;
  /** GET login, GET callback and POST logout, on the console's router (prefixed with its home). */
  mountSignInRoutes(router: Router, deps: ConsoleSessionDeps): void;
}

/** The sessions of one console, each with its own cookies, scoped to its path. */
export function consoleSessions(site: BuiltInConsole): ConsoleSessions {
  const cookies = { session: `mekong${site.home.replaceAll('/', '.')}`, login: `mekong${site.home.replaceAll('/', '.')}.login` };
  const cookieOptions = (ctx: Context, maxAge?: number) => ({
    httpOnly: true, sameSite: 'lax' as const, secure: ctx.secure, signed: true, path: site.home, ...(maxAge ? { maxAge } : {}),
  });
  // Only a path (and query) inside the console: anything else (another host, "//evil") would be an open redirect.
  const returnPathPattern = new RegExp(`^${site.home}(/[\\w\\-/]*)?(\\?[\\w\\-=&%.+]*)?$`);
  const safeReturnPath = (value: unknown) => (typeof value === 'string' && returnPathPattern.test(value) ? value : site.home);
  const redirectUri = (deps: ConsoleSessionDeps) => `${deps.issuer}${consoleCallback(site)}`;

  const sessions: ConsoleSessions = {
    redirectToSignIn(deps, ctx, options = {}) {
      const state = randomBytes(16).toString('base64url');
      const verifier = randomBytes(32).toString('base64url');
      const login: LoginState = { state, verifier, returnTo: safeReturnPath(options.returnTo) };
      ctx.cookies.set(cookies.login, Buffer.from(JSON.stringify(login)).toString('base64url'), cookieOptions(ctx, 10 * 60 * 1000));
      const url = new URL('/auth', deps.issuer);
      url.search = new URLSearchParams({
        client_id: site.clientId,
        response_type: 'code',
        scope: 'openid',
        redirect_uri: redirectUri(deps),
        state,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        ...(options.forceLogin ? { prompt: 'login' } : {}),
      }).toString();
      ctx.redirect(url.toString());
    },

    /**
     * Checks the state against the cookie set when the browser left, then redeems the code
     * in-process with the checks /token makes (this client, this redirect URI, the PKCE verifier,
     * unused, unexpired), and keeps the session it names.
     */
    async completeSignIn(deps, ctx) {
      const login = parseCookie(ctx.cookies.get(cookies.login, { signed: true }), loginStateSchema);
      ctx.cookies.set(cookies.login, null, cookieOptions(ctx));
      const state = typeof ctx.query['state'] === 'string' ? ctx.query['state'] : '';
      if (!login || !sameText(login.state, state)) throw signInFailed(localizable('the sign-in did not start from this browser, or took too long', 'problem.console.sign_in_stale'));
      if (typeof ctx.query['error'] === 'string') throw signInFailed(localizable(`the sign-in ended with ${ctx.query['error']}`, 'problem.console.sign_in_error'));
      const codeValue = typeof ctx.query['code'] === 'string' ? ctx.query['code'] : '';
      const code = codeValue ? await deps.provider().AuthorizationCode.find(codeValue) : undefined;
      const challenge = createHash('sha256').update(login.verifier).digest('base64url');
      if (
        !code || (code as { consumed?: unknown }).consumed !== undefined || code.clientId !== site.clientId
        || code.redirectUri !== redirectUri(deps)
        || code.codeChallengeMethod !== 'S256' || !sameText(code.codeChallenge ?? '', challenge)
        || !code.accountId || !code.sessionUid
      ) {
        throw signInFailed(localizable('the sign-in code is not valid', 'problem.console.sign_in_code'));
      }
      await code.consume();
      const session: SessionCookie = { uid: code.sessionUid, sub: code.accountId, authTime: code.authTime ?? Math.floor(Date.now() / 1000), amr: code.amr ?? [] };
      ctx.cookies.set(cookies.session, Buffer.from(JSON.stringify(session)).toString('base64url'), cookieOptions(ctx));
      return login.returnTo;
    },

    /** A GET is sent to sign in; a form post gets a 401 page, since its data cannot survive the detour. */
    requireSession(deps) {
      return async (ctx, next) => {
        const current = await currentSession(deps, parseCookie(ctx.cookies.get(cookies.session, { signed: true }), sessionCookieSchema));
        if (!current) {
          ctx.cookies.set(cookies.session, null, cookieOptions(ctx));
          if (ctx.method === 'GET') {
            sessions.redirectToSignIn(deps, ctx, { returnTo: ctx.url });
            return;
          }
          throw new AppError('session_expired', `your sign-in has ended; open ${site.home} again`, 401);
        }
        ctx.state['console'] = current;
        await next();
      };
    },

    endSession(ctx) {
      ctx.cookies.set(cookies.session, null, cookieOptions(ctx));
    },

    mountSignInRoutes(router, deps) {
      router.get('/login', (ctx) => {
        sessions.redirectToSignIn(deps, ctx, { returnTo: ctx.query['return_to'] as string | undefined });
      });
      router.get('/callback', async (ctx) => {
        ctx.redirect(await sessions.completeSignIn(deps, ctx));
      });
      // A post: a link or an image elsewhere must not be able to sign the person out.
      router.post('/logout', formBody(), requireCsrfToken, sessions.requireSession(deps), (ctx) => {
        sessions.endSession(ctx);
        // oidc-provider's own logout asks for confirmation, then ends the session everywhere.
        ctx.status = 303;
        ctx.redirect(`/session/end?client_id=${encodeURIComponent(site.clientId)}`);
      });
    },
  };
  return sessions;
}

async function currentSession(deps: ConsoleSessionDeps, cookie: SessionCookie | undefined): Promise<ConsoleSession | undefined> {
  if (!cookie) return undefined;
  const session = await findLiveSessionByUid(deps.db, cookie.uid);
  if (session?.['accountId'] !== cookie.sub) return undefined;
  const user = await findUserById(deps.db, cookie.sub);
  if (user?.status !== 'active') return undefined;
  return { user, sessionUid: cookie.uid, authTime: cookie.authTime, amr: cookie.amr };
}

/** The signed-in person of a console's request, put there by requireSession. */
export const sessionOf = (ctx: Context): ConsoleSession => ctx.state['console'] as ConsoleSession;

/** Whether the person showed their credentials recently enough for a sensitive change. */
export const authenticatedRecently = (session: ConsoleSession, now = Date.now()) =>
  now / 1000 - session.authTime <= recentAuthenticationSeconds;

/** The cookies are signed, so only we wrote them; the schema still guards against an older shape. */
function parseCookie<Schema extends z.ZodType>(value: string | undefined, schema: Schema): z.infer<Schema> | undefined {
  if (!value) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

const signInFailed = (message: LocalizableMessage) => new AppError('sign_in_failed', message, 400);
