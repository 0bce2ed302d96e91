import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';

import { findOrgUnitById } from '../../db/queries/org-units.ts';
import { originOf } from '../../domain/audit.ts';
import { accountConsole, isBuiltInClient } from '../../domain/built-in-clients.ts';
import { changeOwnPassword, type CredentialDeps } from '../../domain/credentials.ts';
import {
  confirmPhoneChange, pendingEmailChange, pendingPhoneChange, removeOwnPhone, requestEmailChange, requestPhoneChange, type ContactChangeDeps, type RequestOutcome,
} from '../../domain/contact-changes.ts';
import { endOwnSession, listConnectedApps, recentActivity, revokeAppAccess } from '../../domain/own-account.ts';
import {
  confirmTotpEnrolment, countUnusedRecoveryCodes, findConfirmedFactors, regenerateRecoveryCodes, removeFactor, resumeTotpEnrolment, startTotpEnrolment,
} from '../../domain/second-factors.ts';
import { listSessions } from '../../domain/sessions.ts';
import { passkeyRegistrationOptions, registerPasskey, type Relying } from '../../domain/webauthn.ts';
import { AppError, localizable } from '../../errors.ts';
import { isMessageKey, type MessageKey, type Translate } from '../../i18n/catalog.ts';
import {
  authenticatedRecently, consoleSessions, sessionOf, type ConsoleSession, type ConsoleSessionDeps,
} from '../console-session.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody, refuseNulInUrl } from '../forms.ts';
import { renderConsolePage, type ConsoleSection } from '../console-page.ts';
import type { Views } from '../views.ts';
import { problemMessage } from './account-recovery.ts';

export interface AccountConsoleDeps extends CredentialDeps, ConsoleSessionDeps, ContactChangeDeps {
  readonly views: Views;
  readonly relying: Relying;
}

const sessions = consoleSessions(accountConsole);

/** The challenge of the passkey registration offered on the security page, kept until the answer comes back. */
const passkeyChallengeCookie = 'mekong.account.webauthn';

const passwordForm = z.object({
  current: z.string().max(1024).default(''),
  password: z.string().max(1024).default(''),
  confirm: z.string().max(1024).default(''),
  end_other_sessions: z.string().optional(),
});
const phoneForm = z.object({ phone: z.string().max(64).default('') });
const emailForm = z.object({ email: z.string().max(320).default('') });
const codeForm = z.object({ code: z.string().max(64).default('') });
const nameForm = z.object({ name: z.string().max(100).default('') });
const enrolForm = z.object({ factor_id: z.string().max(64).default(''), code: z.string().max(64).default('') });
const passkeyForm = z.object({ name: z.string().max(100).default(''), response: z.string().max(65_536).default('') });

/** Notices shown once after a change, named in the URL (?done=…): account.done.<notice> in the catalog. */
type Notice = 'password_changed' | 'phone_saved' | 'phone_removed' | 'email_requested' | 'factor_added' | 'factor_removed' | 'session_ended' | 'app_revoked';

/**
 * The account console at /account: a person's own profile, password, second factors, sessions,
 * connected apps and recent activity. Plain forms that work without JavaScript; every post carries
 * a CSRF token; changes to second factors need a recent sign-in (see console-session.ts).
 */
export function accountConsoleRoutes(deps: AccountConsoleDeps): Router {
  const router = new Router({ prefix: '/account' });
  router.use(refuseNulInUrl);
  const forms = formBody();
  const signedIn = sessions.requireSession(deps);

  sessions.mountSignInRoutes(router, deps);

  router.get('/', signedIn, async (ctx) => {
    await renderProfile(deps, ctx, sessionOf(ctx), {});
  });

  router.post('/email', forms, requireCsrfToken, signedIn, async (ctx) => {
    const account = sessionOf(ctx);
    // A password reset goes to this address: whoever changes it must have signed in just now.
    if (needsFreshSignIn(deps, ctx, account, '/account')) return;
    const form = emailForm.safeParse(bodyOf(ctx));
    const result = await contactRequest(() => requestEmailChange(deps, account.user, form.success ? form.data.email : '', originOf(ctx)));
    if (result.outcome === 'sent') {
      done(ctx, '/account', 'email_requested');
      return;
    }
    ctx.status = refusalStatus(ctx, result);
    await renderProfile(deps, ctx, account, { emailError: contactError('account.email', result) });
  });

  router.post('/phone', forms, requireCsrfToken, signedIn, async (ctx) => {
    const account = sessionOf(ctx);
    const form = phoneForm.safeParse(bodyOf(ctx));
    const result = await contactRequest(() => requestPhoneChange(deps, account.user, form.success ? form.data.phone : '', originOf(ctx)));
    if (result.outcome === 'sent') {
      // The profile shows the code form while a change waits.
      done(ctx, '/account');
      return;
    }
    ctx.status = refusalStatus(ctx, result);
    await renderProfile(deps, ctx, account, { phoneError: contactError('account.phone', result) });
  });

  router.post('/phone/confirm', forms, requireCsrfToken, signedIn, async (ctx) => {
    const account = sessionOf(ctx);
    const form = codeForm.safeParse(bodyOf(ctx));
    const result = await confirmPhoneChange(deps.db, account.user, form.success ? form.data.code : '', originOf(ctx));
    if (result.outcome === 'changed') {
      done(ctx, '/account', 'phone_saved');
      return;
    }
    ctx.status = 400;
    await renderProfile(deps, ctx, account, {
      phoneError: result.outcome === 'wrong_code' ? ['account.phone.wrong_code', { left: String(result.attemptsLeft) }] : ['account.phone.expired', {}],
    });
  });

  router.post('/phone/remove', forms, requireCsrfToken, signedIn, async (ctx) => {
    await removeOwnPhone(deps, sessionOf(ctx).user, originOf(ctx));
    done(ctx, '/account', 'phone_removed');
  });

  router.get('/security', signedIn, async (ctx) => {
    await renderSecurity(deps, ctx, sessionOf(ctx), {});
  });

  router.post('/password', forms, requireCsrfToken, signedIn, async (ctx) => {
    const account = sessionOf(ctx);
    const form = passwordForm.safeParse(bodyOf(ctx));
    const { current, password, confirm, end_other_sessions: endOthers } = form.success ? form.data : { current: '', password: '', confirm: '', end_other_sessions: undefined };
    if (password !== confirm) {
      ctx.status = 400;
      await renderSecurity(deps, ctx, account, { passwordErrors: ['password.mismatch'] });
      return;
    }
    const result = await changeOwnPassword(deps, account.user, {
      currentPassword: current, newPassword: password, endOtherSessions: endOthers === 'on', currentSessionUid: account.sessionUid,
    }, originOf(ctx));
    if (result.outcome !== 'done') {
      ctx.status = 400;
      if (result.outcome === 'throttled') ctx.set('Retry-After', String(result.retryAfterSeconds));
      ctx.status = result.outcome === 'throttled' ? 429 : 400;
      await renderSecurity(deps, ctx, account, {
        passwordErrors: result.outcome === 'wrong_password' ? ['account.password.wrong_current']
          : result.outcome === 'throttled' ? ['account.password.throttled'] : result.problems.map(problemMessage),
      });
      return;
    }
    done(ctx, '/account/security', 'password_changed');
  });

  router.post('/security/totp', forms, requireCsrfToken, signedIn, async (ctx) => {
    const account = sessionOf(ctx);
    if (needsFreshSignIn(deps, ctx, account)) return;
    const form = nameForm.safeParse(bodyOf(ctx));
    const enrolment = await startTotpEnrolment(deps, account.user, form.success ? form.data.name : '');
    renderEnrolment(deps, ctx, enrolment);
  });

  router.post('/security/totp/confirm', forms, requireCsrfToken, signedIn, async (ctx) => {
    const account = sessionOf(ctx);
    const form = enrolForm.safeParse(bodyOf(ctx));
    const { factor_id: factorId, code } = form.success ? form.data : { factor_id: '', code: '' };
    const result = await confirmTotpEnrolment(deps, account.user, factorId, code, { actor: self(account), origin: originOf(ctx) });
    if (!result.confirmed) {
      const enrolment = await resumeTotpEnrolment(deps, account.user, factorId);
      if (!enrolment) {
        done(ctx, '/account/security');
        return;
      }
      ctx.status = 400;
      renderEnrolment(deps, ctx, enrolment, 'mfa.invalid_code');
      return;
    }
    if (result.recoveryCodes) {
      renderRecoveryCodes(deps, ctx, result.recoveryCodes);
      return;
    }
    done(ctx, '/account/security', 'factor_added');
  });

  router.post('/security/passkey', forms, requireCsrfToken, signedIn, async (ctx) => {
    const account = sessionOf(ctx);
    if (needsFreshSignIn(deps, ctx, account)) return;
    const challenge = ctx.cookies.get(passkeyChallengeCookie, { signed: true }) ?? '';
    ctx.cookies.set(passkeyChallengeCookie, null, { path: '/account', signed: true });
    const form = passkeyForm.safeParse(bodyOf(ctx));
    const { name, response } = form.success ? form.data : { name: '', response: '' };
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(response);
    } catch {
      // Not JSON: refused below like any answer that does not verify.
    }
    const result = challenge
      ? await registerPasskey(deps.db, deps.relying, account.user, { response: parsed, expectedChallenge: challenge, name }, { actor: self(account), origin: originOf(ctx) })
      : null;
    if (!result) {
      ctx.status = 400;
      await renderSecurity(deps, ctx, account, { passkeyError: true });
      return;
    }
    if (result.recoveryCodes) {
      renderRecoveryCodes(deps, ctx, result.recoveryCodes);
      return;
    }
    done(ctx, '/account/security', 'factor_added');
  });

  router.post('/security/factors/:id/remove', forms, requireCsrfToken, signedIn, async (ctx) => {
    const account = sessionOf(ctx);
    if (needsFreshSignIn(deps, ctx, account)) return;
    await removeFactor(deps, account.user, ctx.params['id'] ?? '', { actor: self(account), origin: originOf(ctx) });
    done(ctx, '/account/security', 'factor_removed');
  });

  router.post('/security/recovery-codes', forms, requireCsrfToken, signedIn, async (ctx) => {
    const account = sessionOf(ctx);
    if (needsFreshSignIn(deps, ctx, account)) return;
    if ((await findConfirmedFactors(deps.db, account.user.id)).length === 0) {
      throw new AppError('no_second_factor', localizable('recovery codes stand in for a second factor: add an authenticator first', 'problem.factor.none_for_recovery'), 409);
    }
    renderRecoveryCodes(deps, ctx, await regenerateRecoveryCodes(deps, account.user, { actor: self(account), origin: originOf(ctx) }));
  });

  router.get('/sessions', signedIn, async (ctx) => {
    const account = sessionOf(ctx);
    const [sessions, apps] = await Promise.all([listSessions(deps.db, account.user.id), listConnectedApps(deps.db, account.user.id)]);
    const provider = deps.provider();
    const names = new Map(await Promise.all([...new Set([...apps.map((app) => app.clientId), ...sessions.flatMap((session) => session.clientIds)])]
      .map(async (clientId) => [clientId, (await provider.Client.find(clientId))?.clientName ?? clientId] as const)));
    render(deps, ctx, 'account/sessions', 'account.sessions.title', {
      sessions: sessions.map((session) => ({ ...session, current: session.uid === account.sessionUid, apps: session.clientIds.map((id) => names.get(id) ?? id) })),
      apps: apps.filter((app) => !isBuiltInClient(app.clientId)).map((app) => ({ ...app, name: names.get(app.clientId) ?? app.clientId })),
    });
  });

  router.post('/sessions/:uid/end', forms, requireCsrfToken, signedIn, async (ctx) => {
    const account = sessionOf(ctx);
    const uid = ctx.params['uid'] ?? '';
    await endOwnSession(deps, account.user, uid, originOf(ctx));
    if (uid === account.sessionUid) {
      sessions.endSession(ctx);
      done(ctx, '/account');
      return;
    }
    done(ctx, '/account/sessions', 'session_ended');
  });

  router.post('/apps/:clientId/revoke', forms, requireCsrfToken, signedIn, async (ctx) => {
    await revokeAppAccess(deps.db, sessionOf(ctx).user, ctx.params['clientId'] ?? '', originOf(ctx));
    done(ctx, '/account/sessions', 'app_revoked');
  });

  router.get('/activity', signedIn, async (ctx) => {
    const events = await recentActivity(deps.db, sessionOf(ctx).user.id);
    render(deps, ctx, 'account/activity', 'account.activity.title', (t) => ({
      events: events.map((event) => {
        const key = `audit.${event.action}`;
        return { ...event, label: isMessageKey(key) ? t(key) : event.action };
      }),
    }));
  });

  return router;
}

const bodyOf = (ctx: Context): unknown => (ctx.request as { body?: unknown }).body ?? {};
const self = (account: ConsoleSession) => ({ type: 'user' as const, id: account.user.id, name: account.user.username });

/** After a change: back to a page (303, so a reload does not post again), with a notice. */
function done(ctx: Context, path: string, notice?: Notice): void {
  ctx.status = 303;
  ctx.redirect(notice ? `${path}?done=${notice}` : path);
}

/** A sensitive change with an old sign-in: sign in again (password and second factor), then come back. */
function needsFreshSignIn(deps: AccountConsoleDeps, ctx: Context, account: ConsoleSession, returnTo = '/account/security'): boolean {
  if (authenticatedRecently(account)) return false;
  ctx.status = 303;
  sessions.redirectToSignIn(deps, ctx, { returnTo, forceLogin: true });
  return true;
}

type Problem = readonly [MessageKey, Record<string, string>];
type ContactRefusal = Exclude<RequestOutcome, { outcome: 'sent' }> | { readonly outcome: 'invalid' | 'send_failed' };

/** A request for a new address or number, with the refusals a person can act on turned into outcomes. */
async function contactRequest(request: () => Promise<RequestOutcome>): Promise<RequestOutcome | ContactRefusal> {
  try {
    return await request();
  } catch (error) {
    if (error instanceof AppError && error.code === 'invalid_input') return { outcome: 'invalid' };
    if (error instanceof AppError && error.code === 'sms_failed') return { outcome: 'send_failed' };
    throw error;
  }
}

function refusalStatus(ctx: Context, refusal: ContactRefusal): number {
  if (refusal.outcome !== 'too_soon') return refusal.outcome === 'send_failed' ? 503 : 400;
  ctx.set('Retry-After', String(refusal.retryAfterSeconds));
  return 429;
}

function contactError(prefix: 'account.email' | 'account.phone', refusal: ContactRefusal): Problem {
  const key = `${prefix}.${refusal.outcome}`;
  const seconds = refusal.outcome === 'too_soon' ? String(refusal.retryAfterSeconds) : '';
  return [isMessageKey(key) ? key : `${prefix}.invalid`, { seconds }];
}

async function renderProfile(deps: AccountConsoleDeps, ctx: Context, account: ConsoleSession, state: { emailError?: Problem; phoneError?: Problem }): Promise<void> {
  const { user } = account;
  const [unit, pendingEmail, pendingPhone] = await Promise.all([
    user.primary_org_unit_id ? findOrgUnitById(deps.db, user.primary_org_unit_id) : undefined,
    pendingEmailChange(deps.db, user.id),
    pendingPhoneChange(deps.db, user.id),
  ]);
  render(deps, ctx, 'account/profile', 'account.profile.title', (t) => ({
    user,
    unitName: unit?.name ?? null,
    pendingEmail: pendingEmail ?? null,
    pendingPhone: pendingPhone ?? null,
    selfServicePhone: deps.selfServicePhone,
    emailError: state.emailError ? t(...state.emailError) : null,
    phoneError: state.phoneError ? t(...state.phoneError) : null,
  }));
}

const sections: readonly ConsoleSection[] = [
  { path: '/account', label: 'account.nav.profile' },
  { path: '/account/security', label: 'account.nav.security' },
  { path: '/account/sessions', label: 'account.nav.sessions' },
  { path: '/account/activity', label: 'account.nav.activity' },
];

function render(deps: AccountConsoleDeps, ctx: Context, view: string, title: MessageKey, data: Record<string, unknown> | ((t: Translate) => Record<string, unknown>)): void {
  renderConsolePage(deps.views, ctx, { home: '/account', sections }, view, title, data);
}

async function renderSecurity(
  deps: AccountConsoleDeps,
  ctx: Context,
  account: ConsoleSession,
  state: { passwordErrors?: readonly MessageKey[]; passkeyError?: boolean },
): Promise<void> {
  const [factors, recoveryCodes, passkeyOptions] = await Promise.all([
    findConfirmedFactors(deps.db, account.user.id),
    countUnusedRecoveryCodes(deps.db, account.user.id),
    passkeyRegistrationOptions(deps.db, deps.relying, account.user),
  ]);
  ctx.cookies.set(passkeyChallengeCookie, passkeyOptions.challenge, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, signed: true, path: '/account', maxAge: 10 * 60 * 1000 });
  render(deps, ctx, 'account/security', 'account.security.title', (t) => ({
    user: account.user,
    factors,
    recoveryCodes,
    passkeyOptions: JSON.stringify(passkeyOptions),
    passkeyError: state.passkeyError === true,
    passwordErrors: (state.passwordErrors ?? []).map((key) => t(key, { min: String(deps.passwordPolicy.minLength) })),
  }));
}

function renderEnrolment(deps: AccountConsoleDeps, ctx: Context, enrolment: Awaited<ReturnType<typeof startTotpEnrolment>>, error?: MessageKey): void {
  render(deps, ctx, 'enrol-totp', 'mfa.enrol.title', (t) => ({
    action: '/account/security/totp/confirm', intro: null, enrolment, error: error ? t(error) : null,
  }));
}

function renderRecoveryCodes(deps: AccountConsoleDeps, ctx: Context, codes: readonly string[]): void {
  render(deps, ctx, 'recovery-codes', 'mfa.recovery.title', { codes, continueUrl: '/account/security' });
}
