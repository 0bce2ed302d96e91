import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { z } from 'zod';

import {
  completeLogin, findAccountHolder, verifyPassword, verifyPasswordless, verifySecondFactor, type AccountDeps, type LoginMethods, type SecondFactorProof,
} from '../../domain/accounts.ts';
import { passwordExpired, replaceExpiredPassword } from '../../domain/credentials.ts';
import type { PasswordPolicy } from '../../domain/password-policy.ts';
import { problemMessage } from './account-recovery.ts';
import {
  passkeyAuthenticationOptions, passkeyOwner, passkeyRegistrationOptions, passwordlessOptions, registerPasskey, type Relying,
} from '../../domain/webauthn.ts';
import {
  authenticationLevels, confirmTotpEnrolment, findConfirmedFactors, resumeTotpEnrolment, startTotpEnrolment, type TotpEnrolment,
} from '../../domain/second-factors.ts';
import type { User } from '../../db/schema.ts';
import { appAccessReason, requestNeedsSecondFactor, secondFactorReason } from '../../oidc/prompt-policy.ts';
import { nearestUnitAdmins } from '../../db/queries/app-access.ts';
import { mayUseApp } from '../../domain/app-access.ts';
import { originOf, recordAuditEvent } from '../../domain/audit.ts';
import { AppError, assertThat } from '../../errors.ts';
import { isMessageKey, translator, type MessageKey, type Translate } from '../../i18n/catalog.ts';
import { clientFlag } from '../../oidc/client-flags.ts';
import { oidcScopes } from '../../oidc/provider.ts';
import { consentScopes } from '../consent-scopes.ts';
import { csrfToken, requireCsrfToken } from '../csrf.ts';
import { formBody } from '../forms.ts';
import { pageContext } from '../page.ts';
import type { Metrics } from '../../metrics.ts';
import type { Views } from '../views.ts';

export interface InteractionRouteDeps extends AccountDeps {
  readonly views: Views;
  /** The provider in force now; it is rebuilt when signing keys change. */
  readonly provider: () => Provider;
  readonly metrics: Metrics;
  readonly masterKey: Buffer;
  readonly sessionPolicy: { readonly rememberMe: boolean };
  /** Who passkeys are registered to: the issuer's host and origin. */
  readonly relying: Relying;
  /** Periodic password change: days a password lasts, 0 for never (NIST's advice; some rules ask otherwise). */
  readonly passwordMaxAgeDays: number;
  readonly passwordPolicy: PasswordPolicy;
  /** Offer "sign in with a passkey" (no password: the key with its PIN or biometrics is two factors). */
  readonly passwordlessPasskeys: boolean;
}

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

const loginForm = z.object({
  login: z.string().max(320).default(''),
  password: z.string().max(1024).default(''),
  remember: z.string().max(8).optional(),
});

const codeForm = z.object({
  method: z.enum(['totp', 'recovery_code', 'passkey']).default('totp'),
  code: z.string().max(64).default(''),
  /** A passkey's answer: the browser's credential.toJSON(), as JSON text. */
  response: z.string().max(65_536).default(''),
});

const newPasswordForm = z.object({
  password: z.string().max(1024).default(''),
  confirm: z.string().max(1024).default(''),
});

const enrolForm = z.object({
  factor_id: z.string().max(64).default(''),
  code: z.string().max(64).default(''),
});

const enrolPasskeyForm = z.object({
  name: z.string().max(100).default(''),
  /** The browser's credential.toJSON(), as JSON text. */
  response: z.string().max(65_536).default(''),
});

/**
 * A sign-in between its first factor and its second, kept on the interaction itself (server-side,
 * reachable only through this browser's interaction cookie). `login` is the name as typed, which
 * throttling is keyed on; a step-up from an existing session has the session's username.
 */
interface PendingLogin {
  readonly accountId: string;
  readonly login: string;
  /**
   * verify: show a factor the person has; enrol: policy needs one and they have none; enrolled: the
   * recovery codes were shown, finish; change_password: every factor passed, the password is past its age.
   */
  readonly step: 'verify' | 'enrol' | 'enrolled' | 'change_password';
  /** When the first factor was shown, in epoch seconds. */
  readonly since: number;
  readonly failures: number;
  readonly enrolment?: string | undefined;
  /** enrolled: what the person set up at this sign-in, which stands as its second factor. */
  readonly enrolledWith?: 'totp' | 'passkey' | undefined;
  /** "Remember me": a session cookie that outlives the browser; otherwise it ends when the browser closes. */
  readonly remember: boolean;
  /** The challenge of the passkey request (verify) or registration (enrol) on the page, spent by the answer to it. */
  readonly passkeyChallenge?: string | undefined;
  /** change_password: how the person signed in, to finish with once the new password is set. */
  readonly methods?: LoginMethods | undefined;
}

/** The second factor must follow the password within this time, and within this many tries. */
const pendingLifetimeSeconds = 10 * 60;
const maxSecondFactorFailures = 5;
const pendingKey = 'mekongPending';
/** Where the login page's passwordless passkey challenge waits for its answer. */
const passwordlessKey = 'mekongPasskeyChallenge';

function pendingOf(interaction: Interaction): PendingLogin | undefined {
  const pending = interaction.result?.[pendingKey] as PendingLogin | undefined;
  if (!pending || Date.now() / 1000 - pending.since > pendingLifetimeSeconds) return undefined;
  // A step-up belongs to the session it started from; a changed session makes it void.
  if (interaction.session?.accountId && interaction.session.accountId !== pending.accountId) return undefined;
  return pending;
}

async function savePending(interaction: Interaction, pending: PendingLogin | undefined): Promise<void> {
  interaction.result = pending ? { [pendingKey]: pending } : {};
  await interaction.persist();
}

/**
 * The pages oidc-provider sends a browser to when it needs a person: login (with a second factor
 * where the person has one or policy asks for one), then consent. Each step is a small named
 * function; the router only wires them.
 */
export function interactionRoutes(deps: InteractionRouteDeps): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  const forms = formBody();

  router.get('/', async (ctx) => {
    const interaction = await loadInteraction(deps, ctx, ctx.params.uid);
    // The no-access page only when nothing else is asked of the person: with prompt=login or an
    // expired session the login form comes first, so someone else may sign in on this browser.
    const { reasons } = interaction.prompt;
    const onlyNoAccess = reasons.includes(appAccessReason) && reasons.every((reason) => reason === appAccessReason || reason === secondFactorReason);
    if (interaction.prompt.name === 'login' && onlyNoAccess && interaction.session?.accountId) {
      await renderNoAccess(deps, ctx, interaction, interaction.session.accountId);
      return;
    }
    if (interaction.prompt.name === 'login') {
      const pending = pendingOf(interaction) ?? (await startStepUp(deps, interaction));
      if (pending) {
        await renderPendingStep(deps, ctx, interaction, pending);
        return;
      }
      await renderLogin(deps, ctx, interaction, { login: interaction.params['login_hint'] as string | undefined });
      return;
    }
    if (interaction.prompt.name === 'consent') {
      const client = await deps.provider().Client.find(interaction.params['client_id'] as string);
      // First-party apps are the province's own; asking people to consent to them teaches them to click "allow".
      if (clientFlag(client, 'first_party')) {
        await finish(deps, ctx, await grantConsent(deps.provider(), interaction));
        return;
      }
      await renderConsent(deps, ctx, interaction, client?.clientName ?? String(interaction.params['client_id']));
      return;
    }
    throw new AppError('unsupported_prompt', `unsupported interaction prompt "${interaction.prompt.name}"`, 400);
  });

  router.post('/login', forms, requireCsrfToken, async (ctx) => {
    const interaction = await loadInteraction(deps, ctx, ctx.params.uid);
    assertThat(interaction.prompt.name === 'login', staleStep);
    const form = loginForm.safeParse((ctx.request as { body?: unknown }).body ?? {});
    const { login, password, remember: rememberBox } = form.success ? form.data : { login: '', password: '', remember: undefined };
    const remember = deps.sessionPolicy.rememberMe && rememberBox === 'on';
    if (!login.trim() || !password) {
      await renderLogin(deps, ctx, interaction, { login, error: 'login.missing' });
      return;
    }
    let result: Awaited<ReturnType<typeof verifyPassword>>;
    try {
      result = await verifyPassword(deps, login, password, attemptOf(ctx, interaction));
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'busy')) throw error;
      deps.metrics.logins.inc({ outcome: 'busy' });
      // Keep the person on their form, with what they typed, and tell browsers when to try again.
      ctx.status = 503;
      ctx.set('Retry-After', '2');
      await renderLogin(deps, ctx, interaction, { login, error: 'error.busy' });
      return;
    }
    if (result.outcome === 'throttled') {
      deps.metrics.logins.inc({ outcome: 'throttled' });
      // The same page for a known and an unknown name: what was refused is the attempt, not the account.
      await renderThrottled(deps, ctx, interaction, login, result);
      return;
    }
    if (result.outcome !== 'success') {
      deps.metrics.logins.inc({ outcome: result.outcome });
      ctx.status = 401;
      await renderLogin(deps, ctx, interaction, {
        login,
        error: result.outcome === 'inactive' ? `login.inactive.${result.status}` : 'login.invalid',
      });
      return;
    }
    const { user } = result;
    const hasFactor = (await findConfirmedFactors(deps.db, user.id)).length > 0;
    const needsFactor = hasFactor || (await requestNeedsSecondFactor(deps.db, {
      acrValues: interaction.params['acr_values'], client: await clientOf(deps, interaction), accountId: user.id,
    }));
    if (!needsFactor) {
      await finishLogin(deps, ctx, interaction, user, { amr: ['pwd'] }, remember);
      return;
    }
    const pending: PendingLogin = { accountId: user.id, login, step: hasFactor ? 'verify' : 'enrol', since: Math.floor(Date.now() / 1000), failures: 0, remember };
    await savePending(interaction, pending);
    await renderPendingStep(deps, ctx, interaction, pending);
  });

  router.post('/passkey', forms, requireCsrfToken, async (ctx) => {
    const interaction = await loadInteraction(deps, ctx, ctx.params.uid);
    assertThat(interaction.prompt.name === 'login' && deps.passwordlessPasskeys, staleStep);
    const challenge = interaction.result?.[passwordlessKey];
    const form = codeForm.safeParse((ctx.request as { body?: unknown }).body ?? {});
    const response = parseJson(form.success ? form.data.response : '');
    const ownerId = typeof challenge === 'string' ? await passkeyOwner(deps.db, response) : undefined;
    const owner = ownerId ? await findAccountHolder(deps, ownerId) : undefined;
    const result = owner
      ? await verifyPasswordless(deps, owner, { response, challenge: String(challenge), relying: deps.relying }, attemptOf(ctx, interaction))
      : { outcome: 'invalid' as const };
    if (result.outcome !== 'success' || owner?.status !== 'active') {
      deps.metrics.logins.inc({ outcome: result.outcome === 'throttled' ? 'throttled' : 'invalid_credentials' });
      ctx.status = result.outcome === 'throttled' ? 429 : 401;
      await renderLogin(deps, ctx, interaction, { error: result.outcome === 'throttled' ? 'login.throttled' : 'login.passkey_invalid', errorParams: { seconds: String(result.outcome === 'throttled' ? result.retryAfterSeconds : 0) } });
      return;
    }
    deps.metrics.logins.inc({ outcome: 'success' });
    await finishLogin(deps, ctx, interaction, owner, { amr: result.amr, secondFactor: 'passkey' }, false);
  });

  router.post('/second-factor', forms, requireCsrfToken, async (ctx) => {
    const interaction = await loadInteraction(deps, ctx, ctx.params.uid);
    const required = await requirePending(deps, interaction, 'verify');
    const { user } = required;
    let { pending } = required;
    const form = codeForm.safeParse((ctx.request as { body?: unknown }).body ?? {});
    const { method, code, response } = form.success ? form.data : { method: 'totp' as const, code: '', response: '' };
    let proof: SecondFactorProof = { method: method === 'passkey' ? 'totp' : method, code };
    if (method === 'passkey') {
      proof = { method, response: parseJson(response), challenge: pending.passkeyChallenge ?? '', relying: deps.relying };
      // A challenge answers once.
      pending = { ...pending, passkeyChallenge: undefined };
      await savePending(interaction, pending);
    }
    const result = await verifySecondFactor(deps, user, proof, { ...attemptOf(ctx, interaction), login: pending.login });
    if (result.outcome === 'success') {
      deps.metrics.logins.inc({ outcome: 'success' });
      await finishLogin(deps, ctx, interaction, user, { amr: result.amr, secondFactor: method }, pending.remember);
      return;
    }
    if (result.outcome === 'throttled') {
      deps.metrics.logins.inc({ outcome: 'throttled' });
      await renderThrottled(deps, ctx, interaction, pending.login, result, pending);
      return;
    }
    deps.metrics.logins.inc({ outcome: 'invalid_credentials' });
    if (!(await countWrongFactor(deps, ctx, interaction, pending))) return;
    ctx.status = 401;
    const error = method === 'totp' ? 'mfa.invalid_code' : method === 'passkey' ? 'mfa.invalid_passkey' : 'mfa.invalid_recovery_code';
    await renderSecondFactor(deps, ctx, interaction, user, { method: method === 'passkey' ? 'totp' : method, error });
  });

  router.post('/enrol-totp', forms, requireCsrfToken, async (ctx) => {
    const interaction = await loadInteraction(deps, ctx, ctx.params.uid);
    const { pending, user } = await requirePending(deps, interaction, 'enrol');
    const form = enrolForm.safeParse((ctx.request as { body?: unknown }).body ?? {});
    const { factor_id: factorId, code } = form.success ? form.data : { factor_id: '', code: '' };
    assertThat(factorId === pending.enrolment, staleStep);
    const confirmed = await confirmTotpEnrolment(deps, user, factorId, code, { actor: { type: 'user', id: user.id, name: user.username }, origin: originOf(ctx) });
    if (!confirmed.confirmed) {
      if (!(await countWrongFactor(deps, ctx, interaction, pending))) return;
      const enrolment = await resumeTotpEnrolment(deps, user, factorId);
      if (!enrolment) {
        // Another tab replaced (or confirmed) this enrolment: show the step as it stands now.
        await renderPendingStep(deps, ctx, interaction, { ...pending, failures: pending.failures + 1, enrolment: undefined });
        return;
      }
      ctx.status = 400;
      await renderTotpEnrolment(deps, ctx, interaction, user, enrolment, 'mfa.invalid_code');
      return;
    }
    await savePending(interaction, { ...pending, step: 'enrolled', enrolledWith: 'totp' });
    renderRecoveryCodes(deps, ctx, interaction, confirmed.recoveryCodes ?? []);
  });

  router.post('/enrol-passkey', forms, requireCsrfToken, async (ctx) => {
    const interaction = await loadInteraction(deps, ctx, ctx.params.uid);
    const required = await requirePending(deps, interaction, 'enrol');
    const { user } = required;
    // A challenge answers once.
    const pending = { ...required.pending, passkeyChallenge: undefined };
    await savePending(interaction, pending);
    const form = enrolPasskeyForm.safeParse((ctx.request as { body?: unknown }).body ?? {});
    const { name, response } = form.success ? form.data : { name: '', response: '' };
    const registered = required.pending.passkeyChallenge
      ? await registerPasskey(deps.db, deps.relying, user, { response: parseJson(response), expectedChallenge: required.pending.passkeyChallenge, name }, {
        actor: { type: 'user', id: user.id, name: user.username }, origin: originOf(ctx),
      })
      : null;
    if (!registered) {
      if (!(await countWrongFactor(deps, ctx, interaction, pending))) return;
      ctx.status = 400;
      await renderPendingStep(deps, ctx, interaction, pendingOf(interaction) ?? pending, 'mfa.passkey_failed');
      return;
    }
    await savePending(interaction, { ...pending, step: 'enrolled', enrolledWith: 'passkey' });
    renderRecoveryCodes(deps, ctx, interaction, registered.recoveryCodes ?? []);
  });

  router.post('/continue', forms, requireCsrfToken, async (ctx) => {
    const interaction = await loadInteraction(deps, ctx, ctx.params.uid);
    const { pending, user } = await requirePending(deps, interaction, 'enrolled');
    // The new authenticator's first answer (a code, or the passkey's registration) was the second factor.
    const methods = pending.enrolledWith === 'passkey'
      ? { amr: ['pwd', 'pop', 'mfa'], secondFactor: 'passkey' as const }
      : { amr: ['pwd', 'otp', 'mfa'], secondFactor: 'totp' as const };
    await finishLogin(deps, ctx, interaction, user, methods, pending.remember);
  });

  router.post('/change-password', forms, requireCsrfToken, async (ctx) => {
    const interaction = await loadInteraction(deps, ctx, ctx.params.uid);
    const { pending, user } = await requirePending(deps, interaction, 'change_password');
    const form = newPasswordForm.safeParse((ctx.request as { body?: unknown }).body ?? {});
    const { password, confirm } = form.success ? form.data : { password: '', confirm: '' };
    const result = password === confirm
      ? await replaceExpiredPassword(deps, user, password, originOf(ctx))
      : { outcome: 'weak_password' as const, problems: [] };
    if (result.outcome !== 'done') {
      ctx.status = 400;
      renderChangePassword(deps, ctx, interaction, user, password === confirm ? result.problems.map(problemMessage) : ['password.mismatch']);
      return;
    }
    await finishLogin(deps, ctx, interaction, result.user, pending.methods ?? { amr: ['pwd'] }, pending.remember);
  });

  router.post('/confirm', forms, requireCsrfToken, async (ctx) => {
    const interaction = await loadInteraction(deps, ctx, ctx.params.uid);
    assertThat(interaction.prompt.name === 'consent', staleStep);
    await finish(deps, ctx, await grantConsent(deps.provider(), interaction));
  });

  router.post('/abort', forms, requireCsrfToken, async (ctx) => {
    await loadInteraction(deps, ctx, ctx.params.uid);
    await finish(deps, ctx, { error: 'access_denied', error_description: 'the person cancelled the request' });
  });

  return router;
}

/**
 * Counts a wrong second factor (or enrolment code) against the pending sign-in. After the last try
 * allowed, the person starts again from the password, which is throttled too: answers false, with
 * the login page already rendered.
 */
async function countWrongFactor(deps: InteractionRouteDeps, ctx: Context, interaction: Interaction, pending: PendingLogin): Promise<boolean> {
  const failures = pending.failures + 1;
  if (failures >= maxSecondFactorFailures) {
    await savePending(interaction, undefined);
    ctx.status = 401;
    await renderLogin(deps, ctx, interaction, { login: pending.login, error: 'mfa.too_many' });
    return false;
  }
  await savePending(interaction, { ...pending, failures });
  return true;
}

/**
 * A session opened with a password alone, asked for more (the app's acr_values or policy): only
 * the second factor is needed, for the person the session already names.
 */
async function startStepUp(deps: InteractionRouteDeps, interaction: Interaction): Promise<PendingLogin | undefined> {
  const reasons = interaction.prompt.reasons;
  const accountId = interaction.session?.accountId;
  if (!accountId || reasons.length !== 1 || reasons[0] !== secondFactorReason) return undefined;
  // The session keeps its kind of cookie: one that ends with the browser stays that way.
  const session = interaction.session?.cookie ? await deps.provider().Session.find(interaction.session.cookie) : undefined;
  // The step starts here; `login` (for throttling) is filled from the account when the page renders.
  const pending: PendingLogin = {
    accountId, login: '', step: 'verify', since: Math.floor(Date.now() / 1000), failures: 0, remember: session ? !session.transient : false,
  };
  await savePending(interaction, pending);
  return pending;
}

async function requirePending(
  deps: InteractionRouteDeps,
  interaction: Interaction,
  step: PendingLogin['step'],
): Promise<{ pending: PendingLogin; user: User }> {
  assertThat(interaction.prompt.name === 'login', staleStep);
  const pending = pendingOf(interaction);
  assertThat(pending?.step === step, staleStep);
  const user = await findAccountHolder(deps, pending.accountId);
  assertThat(user?.status === 'active', staleStep);
  return { pending: pending.login ? pending : { ...pending, login: user.username }, user };
}

async function renderPendingStep(deps: InteractionRouteDeps, ctx: Context, interaction: Interaction, pending: PendingLogin, error?: MessageKey): Promise<void> {
  const user = await findAccountHolder(deps, pending.accountId);
  if (user?.status !== 'active') {
    await savePending(interaction, undefined);
    await renderLogin(deps, ctx, interaction, {});
    return;
  }
  if (pending.step === 'verify') {
    await renderSecondFactor(deps, ctx, interaction, user, { method: ctx.query['method'] === 'recovery_code' ? 'recovery_code' : 'totp' });
    return;
  }
  if (pending.step === 'change_password') {
    renderChangePassword(deps, ctx, interaction, user, []);
    return;
  }
  if (pending.step === 'enrolled') {
    // The codes were shown once; a reload only offers to continue.
    renderRecoveryCodes(deps, ctx, interaction, []);
    return;
  }
  const enrolment = (pending.enrolment ? await resumeTotpEnrolment(deps, user, pending.enrolment) : undefined)
    ?? (await startTotpEnrolment(deps, user, ''));
  if (enrolment.factorId !== pending.enrolment) await savePending(interaction, { ...pending, enrolment: enrolment.factorId });
  await renderTotpEnrolment(deps, ctx, interaction, user, enrolment, error);
}

function attemptOf(ctx: Context, interaction: Interaction) {
  return { origin: originOf(ctx), clientId: typeof interaction.params['client_id'] === 'string' ? interaction.params['client_id'] : null };
}

async function clientOf(deps: InteractionRouteDeps, interaction: Interaction) {
  return deps.provider().Client.find(String(interaction.params['client_id']));
}

/** Records the sign-in and hands the result to oidc-provider, which sets the session's acr and amr from it. */
async function finishLogin(
  deps: InteractionRouteDeps,
  ctx: Context,
  interaction: Interaction,
  user: User,
  methods: Parameters<typeof completeLogin>[3],
  remember: boolean,
): Promise<void> {
  if (passwordExpired(user, deps.passwordMaxAgeDays)) {
    // After every factor, so that someone holding only the password cannot replace it.
    const pending = pendingOf(interaction);
    if (pending?.step !== 'change_password') {
      await savePending(interaction, {
        accountId: user.id, login: pending?.login || user.username, step: 'change_password', since: Math.floor(Date.now() / 1000),
        failures: 0, remember, methods,
      });
      renderChangePassword(deps, ctx, interaction, user, []);
      return;
    }
  }
  await completeLogin(deps, user, attemptOf(ctx, interaction), methods);
  const acr = methods.amr.includes('mfa') ? authenticationLevels.mfa : authenticationLevels.password;
  const consent = await consentWithLogin(deps, interaction, user.id);
  await finish(deps, ctx, { login: { accountId: user.id, acr, amr: [...methods.amr], remember }, ...(consent ? { consent } : {}) });
}

/**
 * A first-party app's consent, given with the login: the browser goes straight back to the app
 * instead of through a consent step that would show no page. It grants what that step would, the
 * OpenID scopes asked for (oidc-provider has already dropped offline_access unless the app sent
 * prompt=consent), and only to a person the app is open to. A request for claims, an API's scopes
 * or authorization details still passes the consent step, which grants those the same way; so does
 * everything for other apps.
 */
async function consentWithLogin(deps: InteractionRouteDeps, interaction: Interaction, accountId: string): Promise<{ grantId: string } | undefined> {
  const { params } = interaction;
  if (params['claims'] !== undefined || params['resource'] !== undefined || params['authorization_details'] !== undefined) return undefined;
  const scopes = typeof params['scope'] === 'string' ? params['scope'].split(' ').filter(Boolean) : [];
  if (scopes.length === 0 || scopes.some((scope) => !oidcScopes.has(scope))) return undefined;
  const client = await clientOf(deps, interaction);
  // The login prompt turns away a person a restricted app is not open to; they are granted nothing.
  if (!client || !clientFlag(client, 'first_party') || !(await mayUseApp(deps.db, client, accountId))) return undefined;
  const provider = deps.provider();
  // A grant this browser's session already holds for the app is extended, if it is this person's.
  const existing = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
  const clientId = String(params['client_id']);
  const grant = existing?.accountId === accountId && existing.clientId === clientId ? existing : new provider.Grant({ accountId, clientId });
  grant.addOIDCScope(scopes.join(' '));
  return { grantId: await grant.save() };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

const staleStep = () => new AppError('interaction_step_mismatch', 'this step of the sign-in is no longer current; go back to the app and start again', 400);

async function loadInteraction(deps: InteractionRouteDeps, ctx: Context, uid: string | undefined): Promise<Interaction> {
  let interaction: Interaction;
  try {
    interaction = await deps.provider().interactionDetails(ctx.req, ctx.res);
  } catch (error) {
    if ((error as Error).name === 'SessionNotFound') {
      throw new AppError('session_expired', 'the sign-in has expired; go back to the app and start again', 400, { cause: error });
    }
    throw error;
  }
  // The cookie names the interaction; a URL for another one is a stale tab or a forged link.
  assertThat(interaction.uid === uid, () => new AppError('session_expired', 'this sign-in page is no longer current', 400));
  return interaction;
}

async function finish(deps: InteractionRouteDeps, ctx: Context, result: InteractionResults): Promise<void> {
  const returnTo = await deps.provider().interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(returnTo);
}

/**
 * Renders a page of the sign-in in the person's language (their switch, then the app's ui_locales),
 * with the interaction's uid and this browser's CSRF token.
 */
function renderInteractionPage(
  deps: InteractionRouteDeps,
  ctx: Context,
  interaction: Interaction,
  view: string,
  data: (t: Translate) => Record<string, unknown>,
): void {
  const page = pageContext(ctx, interaction.params['ui_locales'] as string | undefined);
  ctx.type = 'html';
  ctx.body = deps.views.render(view, page, { uid: interaction.uid, csrfToken: csrfToken(ctx), ...data(translator(page.locale)) });
}

async function renderLogin(
  deps: InteractionRouteDeps,
  ctx: Context,
  interaction: Interaction,
  state: { login?: string | undefined; error?: string; errorParams?: Record<string, string> },
): Promise<void> {
  const client = await deps.provider().Client.find(String(interaction.params['client_id']));
  // Every login page offers a fresh passkey challenge, kept on the interaction until answered.
  const passkeyOptions = deps.passwordlessPasskeys ? await passwordlessOptions(deps.relying) : null;
  interaction.result = passkeyOptions ? { [passwordlessKey]: passkeyOptions.challenge } : {};
  await interaction.persist();
  renderInteractionPage(deps, ctx, interaction, 'login', (t) => ({
    passkeyOptions: passkeyOptions ? JSON.stringify(passkeyOptions) : null,
    title: t('login.title'),
    login: state.login ?? '',
    offerRememberMe: deps.sessionPolicy.rememberMe,
    error: state.error && isMessageKey(state.error) ? t(state.error, state.errorParams) : null,
    clientName: client?.clientName ?? null,
  }));
}

async function renderThrottled(
  deps: InteractionRouteDeps,
  ctx: Context,
  interaction: Interaction,
  login: string,
  result: { reason?: 'locked' | 'delayed'; retryAfterSeconds: number },
  pending?: PendingLogin,
): Promise<void> {
  ctx.status = 429;
  ctx.set('Retry-After', String(result.retryAfterSeconds));
  const error = result.reason === 'locked' ? 'login.locked' : 'login.throttled';
  const errorParams = { seconds: String(result.retryAfterSeconds), minutes: String(Math.ceil(result.retryAfterSeconds / 60)) };
  const user = pending ? await findAccountHolder(deps, pending.accountId) : undefined;
  if (user) await renderSecondFactor(deps, ctx, interaction, user, { method: 'totp', error, errorParams });
  else await renderLogin(deps, ctx, interaction, { login, error, errorParams });
}

async function renderSecondFactor(
  deps: InteractionRouteDeps,
  ctx: Context,
  interaction: Interaction,
  user: User,
  state: { method: 'totp' | 'recovery_code'; error?: string; errorParams?: Record<string, string> },
): Promise<void> {
  const factors = await findConfirmedFactors(deps.db, user.id);
  const passkeyOptions = await passkeyAuthenticationOptions(deps.db, deps.relying, user.id);
  const pending = pendingOf(interaction);
  if (passkeyOptions && pending) await savePending(interaction, { ...pending, passkeyChallenge: passkeyOptions.challenge });
  renderInteractionPage(deps, ctx, interaction, 'second-factor', (t) => ({
    passkeyOptions: passkeyOptions && pending ? JSON.stringify(passkeyOptions) : null,
    title: t('mfa.title'),
    userName: user.full_name,
    hasTotp: factors.some((factor) => factor.kind === 'totp'),
    method: state.method,
    error: state.error && isMessageKey(state.error) ? t(state.error, state.errorParams) : null,
  }));
}

function renderChangePassword(deps: InteractionRouteDeps, ctx: Context, interaction: Interaction, user: User, errors: readonly MessageKey[]): void {
  ctx.set('Cache-Control', 'no-store');
  renderInteractionPage(deps, ctx, interaction, 'set-password', (t) => ({
    title: t('password.expired.title'),
    intro: t('password.expired.intro', { days: String(deps.passwordMaxAgeDays) }),
    action: `/interaction/${interaction.uid}/change-password`,
    token: null,
    username: user.username,
    errors: errors.map((key) => t(key, { min: String(deps.passwordPolicy.minLength) })),
  }));
}

/** Policy asks for a second factor the person lacks: an authenticator app, or a passkey where the browser has them. */
async function renderTotpEnrolment(
  deps: InteractionRouteDeps,
  ctx: Context,
  interaction: Interaction,
  user: User,
  enrolment: TotpEnrolment,
  error?: MessageKey,
): Promise<void> {
  const passkeyOptions = await passkeyRegistrationOptions(deps.db, deps.relying, user);
  const pending = pendingOf(interaction);
  if (pending) await savePending(interaction, { ...pending, passkeyChallenge: passkeyOptions.challenge });
  renderInteractionPage(deps, ctx, interaction, 'enrol-totp', (t) => ({
    title: t('mfa.enrol.title'),
    action: `/interaction/${interaction.uid}/enrol-totp`,
    passkeyAction: pending ? `/interaction/${interaction.uid}/enrol-passkey` : null,
    passkeyOptions: pending ? JSON.stringify(passkeyOptions) : null,
    intro: t('mfa.enrol.required'),
    enrolment,
    error: error ? t(error) : null,
  }));
}

function renderRecoveryCodes(deps: InteractionRouteDeps, ctx: Context, interaction: Interaction, codes: readonly string[]): void {
  // Shown once: nothing here may be cached by the browser or a proxy.
  ctx.set('Cache-Control', 'no-store');
  renderInteractionPage(deps, ctx, interaction, 'recovery-codes', (t) => ({
    title: t('mfa.recovery.title'),
    action: `/interaction/${interaction.uid}/continue`,
    codes,
  }));
}

/**
 * A signed-in person who may not use this app: said plainly, with the unit administrators who can
 * open it to them, and audited. The only way on is back to the app (which hears access_denied).
 */
async function renderNoAccess(deps: InteractionRouteDeps, ctx: Context, interaction: Interaction, accountId: string): Promise<void> {
  const [user, client, admins] = await Promise.all([
    findAccountHolder(deps, accountId), clientOf(deps, interaction), nearestUnitAdmins(deps.db, accountId),
  ]);
  const clientId = String(interaction.params['client_id']);
  await recordAuditEvent(deps.db, {
    actor: { type: 'user', id: accountId, name: user?.username ?? null }, origin: originOf(ctx), action: 'app.access_denied', outcome: 'denied',
    target: { type: 'client', id: clientId }, orgUnitId: user?.primary_org_unit_id ?? null, details: { client_id: clientId },
  });
  ctx.status = 403;
  renderInteractionPage(deps, ctx, interaction, 'no-access', (t) => ({
    title: t('access.title'),
    message: t('access.denied', { app: client?.clientName ?? clientId }),
    admins,
  }));
}

async function renderConsent(deps: InteractionRouteDeps, ctx: Context, interaction: Interaction, clientName: string): Promise<void> {
  const user = interaction.session?.accountId ? await findAccountHolder(deps, interaction.session.accountId) : undefined;
  const scope = interaction.params['scope'];
  const requested = (typeof scope === 'string' ? scope : '').split(' ').filter(Boolean);
  const { missingResourceScopes } = interaction.prompt.details as { missingResourceScopes?: Record<string, string[]> };
  const scopes = await consentScopes(deps.db, requested, missingResourceScopes ?? {});
  renderInteractionPage(deps, ctx, interaction, 'consent', (t) => ({
    title: t('consent.title'),
    clientName,
    userName: user?.full_name ?? '',
    scopes: scopes(t),
  }));
}

/** Grants exactly what the provider reported as missing: scopes, claims and API scopes. */
async function grantConsent(provider: Provider, interaction: Interaction): Promise<InteractionResults> {
  const { prompt, params, session } = interaction;
  assertThat(session?.accountId, () => new AppError('session_expired', 'the sign-in has expired', 400));
  const grant = interaction.grantId
    ? await provider.Grant.find(interaction.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params['client_id'] as string });
  assertThat(grant, () => new AppError('session_expired', 'the grant for this sign-in no longer exists', 400));
  const details = prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return { consent: { grantId } };
}
