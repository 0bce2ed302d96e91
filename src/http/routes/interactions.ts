import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { z } from 'zod';

import { authenticateWithPassword, findAccountHolder, type AccountDeps } from '../../domain/accounts.ts';
import { originOf } from '../../domain/audit.ts';
import { AppError, assertThat } from '../../errors.ts';
import { isMessageKey, translator, type Translate } from '../../i18n/catalog.ts';
import { csrfToken, requireCsrfToken } from '../csrf.ts';
import { pageContext } from '../page.ts';
import type { Metrics } from '../../metrics.ts';
import type { Views } from '../views.ts';

export interface InteractionRouteDeps extends AccountDeps {
  readonly views: Views;
  /** The provider in force now; it is rebuilt when signing keys change. */
  readonly provider: () => Provider;
  readonly metrics: Metrics;
}

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

const loginForm = z.object({
  login: z.string().max(320).default(''),
  password: z.string().max(1024).default(''),
});

/**
 * The pages oidc-provider sends a browser to when it needs a person: login, then consent. Each step
 * is a small named function; the router only wires them.
 */
export function interactionRoutes(deps: InteractionRouteDeps): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  const forms = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

  router.get('/', async (ctx) => {
    const interaction = await loadInteraction(deps, ctx, ctx.params.uid);
    if (interaction.prompt.name === 'login') {
      await renderLogin(deps, ctx, interaction, { login: interaction.params['login_hint'] as string | undefined });
      return;
    }
    if (interaction.prompt.name === 'consent') {
      const client = await deps.provider().Client.find(interaction.params['client_id'] as string);
      // First-party apps are the province's own; asking people to consent to them teaches them to click "allow".
      if (client?.['first_party'] === true) {
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
    const { login, password } = form.success ? form.data : { login: '', password: '' };
    if (!login.trim() || !password) {
      await renderLogin(deps, ctx, interaction, { login, error: 'login.missing' });
      return;
    }
    let result: Awaited<ReturnType<typeof authenticateWithPassword>>;
    try {
      result = await authenticateWithPassword(deps, login, password, {
        origin: originOf(ctx),
        clientId: typeof interaction.params['client_id'] === 'string' ? interaction.params['client_id'] : null,
      });
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'busy')) throw error;
      deps.metrics.logins.inc({ outcome: 'busy' });
      // Keep the person on their form, with what they typed, and tell browsers when to try again.
      ctx.status = 503;
      ctx.set('Retry-After', '2');
      await renderLogin(deps, ctx, interaction, { login, error: 'error.busy' });
      return;
    }
    deps.metrics.logins.inc({ outcome: result.outcome });
    if (result.outcome === 'throttled') {
      // The same page for a known and an unknown name: what was refused is the attempt, not the account.
      ctx.status = 429;
      ctx.set('Retry-After', String(result.retryAfterSeconds));
      const minutes = String(Math.ceil(result.retryAfterSeconds / 60));
      await renderLogin(deps, ctx, interaction, {
        login,
        error: result.reason === 'locked' ? 'login.locked' : 'login.throttled',
        errorParams: { seconds: String(result.retryAfterSeconds), minutes },
      });
      return;
    }
    if (result.outcome !== 'success') {
      ctx.status = 401;
      await renderLogin(deps, ctx, interaction, {
        login,
        error: result.outcome === 'inactive' ? `login.inactive.${result.status}` : 'login.invalid',
      });
      return;
    }
    await finish(deps, ctx, { login: { accountId: result.user.id, amr: ['pwd'] } });
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

async function renderLogin(
  deps: InteractionRouteDeps,
  ctx: Context,
  interaction: Interaction,
  state: { login?: string | undefined; error?: string; errorParams?: Record<string, string> },
): Promise<void> {
  const client = await deps.provider().Client.find(String(interaction.params['client_id']));
  const page = pageContext(ctx, interaction.params['ui_locales'] as string | undefined);
  const t = translator(page.locale);
  ctx.type = 'html';
  ctx.body = deps.views.render('login', page, {
    title: t('login.title'),
    uid: interaction.uid,
    csrfToken: csrfToken(ctx),
    login: state.login ?? '',
    error: state.error && isMessageKey(state.error) ? t(state.error, state.errorParams) : null,
    clientName: client?.clientName ?? null,
  });
}

async function renderConsent(deps: InteractionRouteDeps, ctx: Context, interaction: Interaction, clientName: string): Promise<void> {
  const page = pageContext(ctx, interaction.params['ui_locales'] as string | undefined);
  const t = translator(page.locale);
  const user = interaction.session?.accountId ? await findAccountHolder(deps, interaction.session.accountId) : undefined;
  const scope = interaction.params['scope'];
  const requested = (typeof scope === 'string' ? scope : '').split(' ').filter(Boolean);
  ctx.type = 'html';
  ctx.body = deps.views.render('consent', page, {
    title: t('consent.title'),
    uid: interaction.uid,
    csrfToken: csrfToken(ctx),
    clientName,
    userName: user?.full_name ?? '',
    scopes: requested.map((scope) => describeScope(t, scope)),
  });
}

function describeScope(t: Translate, scope: string): string {
  const key = `scope.${scope}`;
  return isMessageKey(key) ? t(key) : t('scope.other', { scope });
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
