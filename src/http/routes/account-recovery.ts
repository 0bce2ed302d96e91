import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';

import type { AccountTokenPurpose } from '../../db/schema.ts';
import { originOf } from '../../domain/audit.ts';
import { confirmEmailChange, peekEmailChange } from '../../domain/contact-changes.ts';
import { personForToken, requestPasswordReset, setPasswordWithToken, type CredentialDeps } from '../../domain/credentials.ts';
import type { PasswordProblem } from '../../domain/password-policy.ts';
import { translator, type MessageKey, type Translate } from '../../i18n/catalog.ts';
import type { Logger } from '../../logger.ts';
import { csrfToken, requireCsrfToken } from '../csrf.ts';
import { formBody, refuseNulInUrl } from '../forms.ts';
import { pageContext } from '../page.ts';
import type { Views } from '../views.ts';

export interface AccountRecoveryDeps extends CredentialDeps {
  readonly views: Views;
  readonly logger: Logger;
}

const forgotForm = z.object({ login: z.string().max(320).default('') });
const tokenForm = z.object({ token: z.string().max(128).default('') });
const setPasswordForm = z.object({
  token: z.string().max(128).default(''),
  password: z.string().max(1024).default(''),
  confirm: z.string().max(1024).default(''),
});

/** The two pages a mailed link opens, and their titles. */
const linkPages: Record<AccountTokenPurpose, { path: string; title: MessageKey; doneBody: MessageKey }> = {
  activation: { path: '/account/activate', title: 'activate.title', doneBody: 'activate.done' },
  password_reset: { path: '/account/reset', title: 'reset.title', doneBody: 'reset.done' },
};

/**
 * Pages reached without signing in: "forgot password", and the forms that mailed links open
 * (activation, reset, a new mail address). A link's token rides in the URL only to reach the form; the form posts it
 * back in its body, and only the post spends it.
 */
export function accountRecoveryRoutes(deps: AccountRecoveryDeps): Router {
  const router = new Router();
  router.use(refuseNulInUrl);
  const forms = formBody();

  router.get('/account/forgot', (ctx) => {
    renderPage(deps, ctx, 'forgot-password', 'forgot.title', { login: '' });
  });

  router.post('/account/forgot', forms, requireCsrfToken, (ctx) => {
    const form = forgotForm.safeParse(bodyOf(ctx));
    const login = form.success ? form.data.login : '';
    // Not awaited: the answer, and when it comes, must not depend on whether the account exists.
    void requestPasswordReset(deps, login, originOf(ctx)).catch((error: unknown) => deps.logger.error({ err: error }, 'password reset request failed'));
    renderMessage(deps, ctx, 'forgot.title', 'forgot.sent');
  });

  for (const purpose of ['activation', 'password_reset'] as const) {
    const { path, title, doneBody } = linkPages[purpose];
    router.get(path, async (ctx) => {
      const token = typeof ctx.query['token'] === 'string' ? ctx.query['token'] : '';
      const person = await personForToken(deps.db, purpose, token);
      if (!person) {
        ctx.status = 400;
        renderMessage(deps, ctx, title, 'link.invalid');
        return;
      }
      renderSetPassword(deps, ctx, purpose, token, person.username, []);
    });

    router.post(path, forms, requireCsrfToken, async (ctx) => {
      const form = setPasswordForm.safeParse(bodyOf(ctx));
      const { token, password, confirm } = form.success ? form.data : { token: '', password: '', confirm: '' };
      const person = await personForToken(deps.db, purpose, token);
      if (!person) {
        ctx.status = 400;
        renderMessage(deps, ctx, title, 'link.invalid');
        return;
      }
      if (password !== confirm) {
        ctx.status = 400;
        renderSetPassword(deps, ctx, purpose, token, person.username, ['password.mismatch']);
        return;
      }
      const result = await setPasswordWithToken(deps, purpose, token, password, originOf(ctx));
      if (result.outcome === 'weak_password') {
        ctx.status = 400;
        renderSetPassword(deps, ctx, purpose, token, person.username, result.problems.map(problemMessage));
        return;
      }
      if (result.outcome === 'invalid_token') {
        ctx.status = 400;
        renderMessage(deps, ctx, title, 'link.invalid');
        return;
      }
      renderMessage(deps, ctx, title, doneBody);
    });
  }

  // The link to a new address proves the person reads it. Opening it only asks; the post confirms,
  // so a mail scanner that follows links changes nothing.
  router.get('/account/email/confirm', async (ctx) => {
    const token = typeof ctx.query['token'] === 'string' ? ctx.query['token'] : '';
    const change = await peekEmailChange(deps.db, token);
    if (!change) {
      ctx.status = 400;
      renderMessage(deps, ctx, 'account.email.confirm_title', 'account.email.link_invalid');
      return;
    }
    renderPage(deps, ctx, 'confirm-email', 'account.email.confirm_title', (t) => ({
      token,
      question: t('account.email.confirm_intro', { email: change.newEmail, username: change.user.username }),
    }));
  });

  router.post('/account/email/confirm', forms, requireCsrfToken, async (ctx) => {
    const form = tokenForm.safeParse(bodyOf(ctx));
    const result = await confirmEmailChange(deps.db, form.success ? form.data.token : '', originOf(ctx));
    if (result.outcome !== 'changed') {
      ctx.status = 400;
      renderMessage(deps, ctx, 'account.email.confirm_title', result.outcome === 'taken' ? 'account.email.taken_now' : 'account.email.link_invalid');
      return;
    }
    renderPage(deps, ctx, 'message', 'account.email.confirm_title', (t) => ({
      heading: t('account.email.confirm_title'), body: t('account.email.changed', { email: result.user.email ?? '' }),
    }));
  });
  return router;
}

const bodyOf = (ctx: Context): unknown => (ctx.request as { body?: unknown }).body ?? {};

export const problemMessage = (problem: PasswordProblem): MessageKey => `password.problem.${problem}`;

function renderPage(deps: AccountRecoveryDeps, ctx: Context, view: string, title: MessageKey, data: (Record<string, unknown>) | ((t: Translate) => Record<string, unknown>)): void {
  const page = pageContext(ctx);
  const t = translator(page.locale);
  ctx.type = 'html';
  // These pages carry tokens and passwords: nothing is cached.
  ctx.set('Cache-Control', 'no-store');
  ctx.body = deps.views.render(view, page, { title: t(title), csrfToken: csrfToken(ctx), ...(typeof data === 'function' ? data(t) : data) });
}

function renderMessage(deps: AccountRecoveryDeps, ctx: Context, title: MessageKey, body: MessageKey): void {
  renderPage(deps, ctx, 'message', title, (t) => ({ heading: t(title), body: t(body) }));
}

function renderSetPassword(
  deps: AccountRecoveryDeps,
  ctx: Context,
  purpose: AccountTokenPurpose,
  token: string,
  username: string,
  errors: readonly MessageKey[],
): void {
  const { path, title } = linkPages[purpose];
  renderPage(deps, ctx, 'set-password', title, (t) => ({
    action: path,
    token,
    username,
    errors: errors.map((key) => t(key, { min: String(deps.passwordPolicy.minLength) })),
  }));
}
