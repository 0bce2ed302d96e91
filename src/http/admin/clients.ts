import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';

import { listAppRoleNames } from '../../db/queries/app-access.ts';
import { listBackchannelLogouts } from '../../db/queries/backchannel-logouts.ts';
import { findClient, listClientOwners, listClients } from '../../db/queries/clients.ts';
import { listOrgUnits } from '../../db/queries/org-units.ts';
import { appAccessPolicies } from '../../db/schema.ts';
import { appAssignmentSchema, assignApp, listAppAssignmentsInScope, setAppAccessPolicy, unassignApp } from '../../domain/app-access.ts';
import { AccessDenied, isPermitted, scopeOf, subtreeFilter } from '../../domain/authorization.ts';
import { isBuiltInClient } from '../../domain/built-in-clients.ts';
import { changeClientStatus } from '../../domain/clients.ts';
import { decideOnApp } from '../../domain/developer-apps.ts';
import { AppError, assertThat, invalidInput, localizable } from '../../errors.ts';
import { maxBackchannelLogoutAttempts } from '../../oidc/backchannel.ts';
import { issueInitialAccessToken } from '../../oidc/provider.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody } from '../forms.ts';
import { bodyOf, contextOf, done, invalidForm, render, type AdminConsoleDeps } from './pages.ts';

const statusForm = z.object({ status: z.enum(['active', 'disabled']) });
const decisionForm = z.object({ decision: z.enum(['approve', 'reject']) });
const initialAccessTokenForm = z.object({ pre_approved: z.string().max(10).optional() });
const policyForm = z.object({ access_policy: z.enum(appAccessPolicies) });
const assignmentForm = z.object({
  org_unit_id: z.string().max(64).default(''),
  // One checkbox per declared role: absent, one value, or several.
  roles: z.union([z.string().max(64), z.array(z.string().max(64)).max(100)]).optional().transform((value) => (value === undefined ? [] : [value].flat())),
});
const removeForm = z.object({ client_id: z.string().max(200).default('') });

/** Back-channel logout calls shown on an app's page, newest first. */
const shownDeliveries = 50;

/**
 * Apps: the list, and an app's page with its registration, who may use it (the province-wide
 * switch for global admins; assignments within the admin's subtree), and, for global admins,
 * the approval queue of apps developers registered, initial access tokens for /reg, disabling an
 * app and the delivery status of its back-channel logout calls.
 */
export function mountClients(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  const forms = formBody();

  router.get('/clients', ...guard, async (ctx) => {
    const { principal } = contextOf(ctx);
    if (!isPermitted(principal, 'apps.assign')) throw new AccessDenied(localizable('the list of apps is for those who may open them to people (apps.assign)', 'problem.app.list_needs_assign'), 'client.list');
    const clients = (await listClients(deps.db)).map((client) => ({ ...client, name: clientName(client.metadata, client.client_id), builtIn: isBuiltInClient(client.client_id) }));
    render(deps, ctx, 'admin/clients', 'admin.clients.title', {
      clients,
      // The approval queue is for those who decide: global administrators.
      global: scopeOf(principal, 'apps.assign').global,
      pending: clients.filter((client) => client.status === 'pending'),
    });
  });

  router.get('/clients/:id', ...guard, async (ctx) => {
    const context = contextOf(ctx);
    const clientId = ctx.params['id'] ?? '';
    const client = await findClient(deps.db, clientId);
    assertThat(client, () => new AppError('not_found', localizable(`no app with client id ${clientId}`, 'problem.client.not_found', { id: clientId }), 404));
    const global = scopeOf(context.principal, 'apps.assign').global;
    const active = client.status === 'active';
    const [assignments, roles, units, deliveries, owners] = await Promise.all([
      active ? listAppAssignmentsInScope(deps, context, clientId) : Promise.resolve([]),
      listAppRoleNames(deps.db, clientId),
      listOrgUnits(deps.db, { subtrees: subtreeFilter(scopeOf(context.principal, 'apps.assign')), status: 'active', limit: 2000 }),
      global ? listBackchannelLogouts(deps.db, { clientId, limit: shownDeliveries }, maxBackchannelLogoutAttempts) : Promise.resolve([]),
      listClientOwners(deps.db, clientId),
    ]);
    const metadata = client.metadata;
    render(deps, ctx, 'admin/client', 'admin.clients.client_title', {
      client, name: clientName(metadata, clientId), global, active, builtIn: isBuiltInClient(clientId),
      redirectUris: Array.isArray(metadata['redirect_uris']) ? metadata['redirect_uris'] : [],
      grantTypes: Array.isArray(metadata['grant_types']) ? metadata['grant_types'].join(', ') : '',
      backchannelUri: typeof metadata['backchannel_logout_uri'] === 'string' ? metadata['backchannel_logout_uri'] : null,
      assignments, roles, units, deliveries, owners,
    });
  });

  router.post('/clients/:id/status', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = statusForm.safeParse(bodyOf(ctx));
    if (!form.success) throw invalidInput('status: choose active or disabled');
    await changeClientStatus(deps.db, contextOf(ctx), ctx.params['id'] ?? '', form.data.status);
    done(ctx, `/admin/clients/${ctx.params['id'] ?? ''}`, form.data.status === 'disabled' ? 'client_disabled' : 'client_enabled');
  });

  // Rejecting is final (the developer registers again): say so before it happens.
  router.get('/clients/:id/reject', ...guard, async (ctx) => {
    const context = contextOf(ctx);
    const clientId = ctx.params['id'] ?? '';
    if (!scopeOf(context.principal, 'apps.assign').global) {
      throw new AccessDenied(localizable('approving or rejecting an app is for global administrators', 'problem.developer.approve_needs_global'), 'client.decide', { type: 'client', id: clientId });
    }
    const client = await findClient(deps.db, clientId);
    assertThat(client?.status === 'pending', () => new AppError('not_found', localizable(`no app waiting for approval with client id ${clientId}`, 'problem.developer.not_pending'), 404));
    render(deps, ctx, 'admin/client-reject', 'admin.clients.reject_title', { client, name: clientName(client.metadata, clientId) });
  });

  router.post('/clients/:id/decision', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = decisionForm.safeParse(bodyOf(ctx));
    if (!form.success) throw invalidInput('decision: choose approve or reject');
    await decideOnApp(deps.db, contextOf(ctx), ctx.params['id'] ?? '', form.data.decision);
    done(ctx, `/admin/clients/${ctx.params['id'] ?? ''}`, form.data.decision === 'approve' ? 'client_approved' : 'client_rejected');
  });

  // Shown once, on the answer to the post; a reload posts again and issues another.
  router.post('/clients/initial-access-token', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = initialAccessTokenForm.safeParse(bodyOf(ctx));
    const issued = await issueInitialAccessToken(deps.provider(), deps.db, contextOf(ctx), { preApproved: form.success && form.data.pre_approved !== undefined });
    render(deps, ctx, 'admin/initial-access-token', 'admin.clients.iat_title', { token: issued.token, expiresAt: issued.expiresAt, registrationEndpoint: `${deps.issuer}/reg` });
  });

  router.post('/clients/:id/policy', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = policyForm.safeParse(bodyOf(ctx));
    if (!form.success) throw invalidInput('access_policy: choose open or restricted');
    await setAppAccessPolicy(deps, contextOf(ctx), ctx.params['id'] ?? '', form.data.access_policy);
    done(ctx, `/admin/clients/${ctx.params['id'] ?? ''}`, 'policy_saved');
  });

  router.post('/clients/:id/assignments', forms, requireCsrfToken, ...guard, async (ctx) => {
    const clientId = ctx.params['id'] ?? '';
    const form = assignmentForm.safeParse(bodyOf(ctx));
    const parsed = appAssignmentSchema.safeParse(form.success ? { org_unit_id: form.data.org_unit_id || undefined, roles: form.data.roles } : {});
    if (!parsed.success) throw invalidForm(ctx, parsed.error);
    await assignApp(deps, contextOf(ctx), clientId, parsed.data);
    done(ctx, `/admin/clients/${clientId}`, 'app_assigned');
  });

  router.post('/app-assignments/:id/remove', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = removeForm.safeParse(bodyOf(ctx));
    await unassignApp(deps, contextOf(ctx), ctx.params['id'] ?? '');
    done(ctx, form.success && form.data.client_id ? `/admin/clients/${encodeURIComponent(form.data.client_id)}` : '/admin/clients', 'app_unassigned');
  });
}

const clientName = (metadata: Record<string, unknown>, clientId: string) => (typeof metadata['client_name'] === 'string' ? metadata['client_name'] : clientId);
