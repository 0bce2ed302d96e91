import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import { listResourceServerGrants } from '../../db/queries/resource-servers.ts';
import { accessTokenFormats } from '../../db/schema.ts';
import { kindOfMetadata } from '../../domain/clients.ts';
import { listOwnApps } from '../../domain/developer-apps.ts';
import {
  checkResourceServer, declareResourceServer, defaultAccessTokenSeconds, grantResourceServer, listResourceServersInCare, readResourceServer,
  revokeResourceServerGrant, type ResourceServerDeclaration,
} from '../../domain/resource-servers.ts';
import { invalidInput } from '../../errors.ts';
import { translator } from '../../i18n/catalog.ts';
import { bodyOf, contextOf, done, refusedAsForm } from '../admin/pages.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody } from '../forms.ts';
import { pageContext } from '../page.ts';
import { registrationErrors } from './app-form.ts';
import { render, type DeveloperPortalDeps } from './pages.ts';

/** Checkboxes sharing a name: absent, one value, or several. */
const checkboxes = z.union([z.string().max(100), z.array(z.string().max(100)).max(100)]).optional().transform((value) => (value === undefined ? [] : [value].flat()));

const apiForm = z.object({
  api_name: z.string().max(200).default(''),
  identifier: z.string().max(2000).default(''),
  owner_client_id: z.string().max(200).default(''),
  /** One scope a line: `name: description`. */
  api_scopes: z.string().max(20_000).default(''),
  access_token_minutes: z.string().max(10).default(String(defaultAccessTokenSeconds / 60)),
  access_token_format: z.string().max(10).default('jwt'),
});
type ApiForm = z.output<typeof apiForm>;
const blankApiForm: ApiForm = apiForm.parse({});

const grantForm = z.object({ client_id: z.string().trim().min(1).max(200), scopes: checkboxes });

/** Which form field each part of a declaration comes from. */
const fieldOfPath: Readonly<Record<string, string>> = {
  name: 'api_name', identifier: 'identifier', owner_client_id: 'owner_client_id', scopes: 'api_scopes',
  access_token_seconds: 'access_token_minutes', access_token_format: 'access_token_format',
};

function declarationOf(form: ApiForm): ResourceServerDeclaration {
  const minutes = Number(form.access_token_minutes.trim());
  return {
    name: form.api_name,
    identifier: form.identifier,
    owner_client_id: form.owner_client_id,
    scopes: form.api_scopes.split(/\r?\n/).map((line) => line.trim()).filter(Boolean).map((line) => {
      const [name = '', ...description] = line.split(':');
      return { name: name.trim(), description: description.join(':').trim() };
    }),
    // Not a whole number of minutes: the schema's own check names it.
    access_token_seconds: Number.isFinite(minutes) && form.access_token_minutes.trim() !== '' ? Math.round(minutes * 60) : Number.NaN,
    access_token_format: (accessTokenFormats as readonly string[]).includes(form.access_token_format) ? (form.access_token_format as 'jwt' | 'opaque') : 'jwt',
  };
}

/**
 * The developer's APIs (resource servers, domain/resource-servers.ts): declared here for one of
 * their confidential apps, approved by the province, then granted to the apps that may call them.
 */
export function mountApis(router: Router, deps: DeveloperPortalDeps, guard: Middleware[]): void {
  const forms = formBody();
  const apiPath = (id: string) => `/developers/apis/${encodeURIComponent(id)}`;

  router.get('/apis', ...guard, async (ctx) => {
    const apis = await listResourceServersInCare(deps.db, contextOf(ctx));
    render(deps, ctx, 'developers/apis', 'developers.apis.title', { apis });
  });

  router.get('/apis/new', ...guard, async (ctx) => {
    await renderApiForm(deps, ctx, blankApiForm, {});
  });

  router.post('/apis', forms, requireCsrfToken, ...guard, async (ctx) => {
    const t = translator(pageContext(ctx).locale);
    const parsed = apiForm.safeParse(bodyOf(ctx));
    const form = parsed.success ? parsed.data : blankApiForm;
    const declaration = declarationOf(form);
    const checked = checkResourceServer(declaration, deps.issuer);
    if (!parsed.success || !checked.success) {
      ctx.status = 400;
      await renderApiForm(deps, ctx, form, { ...(checked.success ? {} : registrationErrors(t, checked.error.issues, fieldOfPath)), ...(parsed.success ? {} : { _form: t('developers.problem.form') }) });
      return;
    }
    const declared = await refusedAsForm(ctx, () => declareResourceServer(deps, contextOf(ctx), declaration), (message) => renderApiForm(deps, ctx, form, { _form: message }));
    if (declared) done(ctx, apiPath(declared.id), 'api_declared');
  });

  router.get('/apis/:id', ...guard, async (ctx) => {
    const api = await readResourceServer(deps.db, contextOf(ctx), ctx.params['id'] ?? '');
    const grants = await listResourceServerGrants(deps.db, api.id);
    render(deps, ctx, 'developers/api', 'developers.api.title', { api, grants });
  });

  router.post('/apis/:id/grants', forms, requireCsrfToken, ...guard, async (ctx) => {
    const id = ctx.params['id'] ?? '';
    const form = grantForm.safeParse(bodyOf(ctx));
    if (!form.success) throw invalidInput('client_id: give the client id of the app that may call the API');
    await grantResourceServer(deps.db, contextOf(ctx), id, form.data.client_id, { scopes: form.data.scopes });
    done(ctx, apiPath(id), 'api_granted');
  });

  router.post('/apis/:id/grants/:clientId/revoke', forms, requireCsrfToken, ...guard, async (ctx) => {
    const id = ctx.params['id'] ?? '';
    await revokeResourceServerGrant(deps.db, contextOf(ctx), id, ctx.params['clientId'] ?? '');
    done(ctx, apiPath(id), 'api_revoked');
  });
}

/** The declaration form; the serving app is chosen among the developer's confidential apps that can still serve. */
async function renderApiForm(deps: DeveloperPortalDeps, ctx: Context, form: ApiForm, errors: Record<string, string>): Promise<void> {
  const apps = (await listOwnApps(deps.db, contextOf(ctx)))
    .filter((app) => (app.status === 'active' || app.status === 'pending') && app.metadata['token_endpoint_auth_method'] !== 'none')
    .map((app) => ({ clientId: app.client_id, name: typeof app.metadata['client_name'] === 'string' ? app.metadata['client_name'] : app.client_id, kind: kindOfMetadata(app.metadata) }));
  render(deps, ctx, 'developers/api-form', 'developers.apis.new', { form, errors, apps, formats: accessTokenFormats });
}
