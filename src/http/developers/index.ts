import Router from '@koa/router';
import type { Context } from 'koa';

import { listAppRoles } from '../../db/queries/app-access.ts';
import { listClientOwners } from '../../db/queries/clients.ts';
import type { Client } from '../../db/schema.ts';
import { declareAppRoles, appRolesSchema } from '../../domain/app-access.ts';
import { checkRegistration, clientScopes, kindOfMetadata } from '../../domain/clients.ts';
import { addAppOwner, appInCare, listOwnApps, registerDeveloperApp, rotateClientSecret, type RotatedSecret } from '../../domain/developer-apps.ts';
import { invalidInput, localizable } from '../../errors.ts';
import { translator } from '../../i18n/catalog.ts';
import { contextOf, bodyOf, done, refusedAsForm } from '../admin/pages.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody, refuseNulInUrl } from '../forms.ts';
import { pageContext } from '../page.ts';
import { mountApis } from './apis.ts';
import { appForm, blankAppForm, ownerForm, portalKinds, registrationErrors, registrationOf, rolesForm, rotationForm, type AppForm } from './app-form.ts';
import { developerGuard, developerSessions, render, type DeveloperPortalDeps } from './pages.ts';
import { integrationSnippets, integrationValues } from './snippets.ts';

export type { DeveloperPortalDeps } from './pages.ts';

/**
 * The developer portal at /developers: a developer registers apps, sees whether they are approved,
 * rotates their secrets, declares their roles, adds co-owners and reads how to integrate. Every
 * rule is the domain's (domain/developer-apps.ts): these pages only parse forms and draw answers.
 */
export function developerPortalRoutes(deps: DeveloperPortalDeps): Router {
  const router = new Router({ prefix: '/developers' });
  router.use(refuseNulInUrl);
  developerSessions.mountSignInRoutes(router, deps);
  const guard = developerGuard(deps);
  const forms = formBody();
  const appPath = (clientId: string) => `/developers/apps/${encodeURIComponent(clientId)}`;

  router.get('/', ...guard, async (ctx) => {
    const apps = await listOwnApps(deps.db, contextOf(ctx));
    render(deps, ctx, 'developers/apps', 'developers.apps.title', { apps: apps.map(summary) });
  });

  router.get('/apps/new', ...guard, (ctx) => {
    renderAppForm(deps, ctx, blankAppForm, {});
  });

  router.post('/apps', forms, requireCsrfToken, ...guard, async (ctx) => {
    const t = translator(pageContext(ctx).locale);
    const parsed = appForm.safeParse(bodyOf(ctx));
    const form = parsed.success ? parsed.data : blankAppForm;
    const registration = registrationOf(form);
    const checked = checkRegistration(registration);
    const kindError: Record<string, string> = (portalKinds as readonly string[]).includes(form.kind) ? {} : { kind: t('developers.problem.kind') };
    if (!parsed.success || !checked.success || 'kind' in kindError) {
      ctx.status = 400;
      renderAppForm(deps, ctx, form, { ...(checked.success ? {} : registrationErrors(t, checked.error.issues)), ...kindError, ...(parsed.success ? {} : { _form: t('developers.problem.form') }) });
      return;
    }
    const registered = await refusedAsForm(ctx,
      () => registerDeveloperApp({ db: deps.db, validateMetadata: async (metadata) => { await deps.provider().Client.validate(metadata); } }, contextOf(ctx), registration),
      (message) => Promise.resolve(renderAppForm(deps, ctx, form, { _form: message })));
    if (!registered) return;
    renderSecret(deps, ctx, registered.clientId, form.name, registered.clientSecret ? { clientSecret: registered.clientSecret, previousSecretExpiresAt: null } : null, 'registered');
  });

  router.get('/apps/:id', ...guard, async (ctx) => {
    await renderApp(deps, ctx, await appInCare(deps.db, contextOf(ctx), ctx.params['id'] ?? '', 'client.read'), null);
  });

  router.post('/apps/:id/secret', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = rotationForm.safeParse(bodyOf(ctx));
    if (!form.success) throw invalidInput(localizable('overlap_hours: choose between 0 and 720 hours (30 days)', 'problem.developer.overlap'));
    const clientId = ctx.params['id'] ?? '';
    const rotated = await rotateClientSecret(deps.db, contextOf(ctx), clientId, form.data.overlap_hours * 3600);
    const client = await appInCare(deps.db, contextOf(ctx), clientId, 'client.read');
    renderSecret(deps, ctx, clientId, summary(client).name, rotated, 'rotated');
  });

  router.post('/apps/:id/roles', forms, requireCsrfToken, ...guard, async (ctx) => {
    const clientId = ctx.params['id'] ?? '';
    const form = rolesForm.safeParse(bodyOf(ctx));
    const parsed = appRolesSchema.safeParse(form.success ? form.data : {});
    if (!parsed.success) {
      // Shown beside the roles as typed; the rule's own words say which name is wrong.
      const client = await appInCare(deps.db, contextOf(ctx), clientId, 'client.read');
      const t = translator(pageContext(ctx).locale);
      ctx.status = 400;
      const typed = (bodyOf(ctx) as { roles?: unknown }).roles;
      await renderApp(deps, ctx, client, { text: typeof typed === 'string' ? typed : '', error: t('developers.problem.roles') });
      return;
    }
    await declareAppRoles(deps, contextOf(ctx), clientId, parsed.data);
    done(ctx, appPath(clientId), 'roles_saved');
  });

  router.post('/apps/:id/owners', forms, requireCsrfToken, ...guard, async (ctx) => {
    const clientId = ctx.params['id'] ?? '';
    const form = ownerForm.safeParse(bodyOf(ctx));
    if (!form.success) throw invalidInput(localizable('username: give the username of a person holding the developer role', 'problem.developer.owner_missing'));
    await addAppOwner(deps.db, contextOf(ctx), clientId, form.data.username);
    done(ctx, appPath(clientId), 'owner_added');
  });

  router.get('/apps/:id/integration', ...guard, async (ctx) => {
    const client = await appInCare(deps.db, contextOf(ctx), ctx.params['id'] ?? '', 'client.read');
    const values = integrationValues(deps.issuer, client);
    render(deps, ctx, 'developers/integration', 'developers.integration.title', { app: summary(client), values, snippets: integrationSnippets(values) });
  });

  mountApis(router, deps, guard);
  return router;
}

/** An app's page; `roles` brings back what was typed in the roles form, with what was wrong. */
async function renderApp(deps: DeveloperPortalDeps, ctx: Context, client: Client, roles: { text: string; error: string } | null): Promise<void> {
  const [owners, declared] = await Promise.all([listClientOwners(deps.db, client.client_id), listAppRoles(deps.db, client.client_id)]);
  const metadata = client.metadata;
  render(deps, ctx, 'developers/app', 'developers.app.title', {
    app: summary(client),
    redirectUris: strings(metadata['redirect_uris']),
    postLogoutUris: strings(metadata['post_logout_redirect_uris']),
    backchannelUri: typeof metadata['backchannel_logout_uri'] === 'string' ? metadata['backchannel_logout_uri'] : null,
    logoUri: typeof metadata['logo_uri'] === 'string' ? metadata['logo_uri'] : null,
    grantTypes: strings(metadata['grant_types']).join(', '),
    scope: typeof metadata['scope'] === 'string' ? metadata['scope'] : clientScopes.join(' '),
    hasSecret: client.client_secret_hash !== null,
    previousSecretExpiresAt: client.previous_secret_expires_at && client.previous_secret_expires_at > new Date() ? client.previous_secret_expires_at : null,
    owners,
    rolesText: roles?.text ?? declared.map((role) => (role.description ? `${role.name}: ${role.description}` : role.name)).join('\n'),
    rolesError: roles?.error ?? null,
  });
}

function renderAppForm(deps: DeveloperPortalDeps, ctx: Context, form: AppForm, errors: Record<string, string>): void {
  render(deps, ctx, 'developers/app-form', 'developers.new.title', {
    form: { ...form, redirect_uris: form.redirect_uris.join('\n'), post_logout_redirect_uris: form.post_logout_redirect_uris.join('\n') },
    errors, kinds: portalKinds, scopes: clientScopes.filter((scope) => scope !== 'openid'),
  });
}

/** The one page that shows a secret: never cached, never redirected to (a reload shows nothing new). */
function renderSecret(deps: DeveloperPortalDeps, ctx: Context, clientId: string, name: string, secret: RotatedSecret | null, occasion: 'registered' | 'rotated'): void {
  render(deps, ctx, 'developers/secret', occasion === 'registered' ? 'developers.secret.registered' : 'developers.secret.rotated', {
    clientId, name, occasion, clientSecret: secret?.clientSecret ?? null, previousSecretExpiresAt: secret?.previousSecretExpiresAt ?? null,
  });
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);

export function summary(client: Client) {
  const metadata = client.metadata;
  return {
    clientId: client.client_id,
    name: typeof metadata['client_name'] === 'string' ? metadata['client_name'] : client.client_id,
    status: client.status,
    kind: kindOfMetadata(metadata),
    createdAt: client.created_at,
  };
}
