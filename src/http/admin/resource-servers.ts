import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';

import { listClients } from '../../db/queries/clients.ts';
import { findResourceServer } from '../../db/queries/resource-servers.ts';
import { AccessDenied, scopeOf } from '../../domain/authorization.ts';
import { changeResourceServerStatus, decideOnResourceServer, listResourceServersInCare } from '../../domain/resource-servers.ts';
import { AppError, assertThat, invalidInput, localizable } from '../../errors.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody } from '../forms.ts';
import { bodyOf, contextOf, done, render, type AdminConsoleDeps } from './pages.ts';

const decisionForm = z.object({ decision: z.enum(['approve', 'reject']) });
const statusForm = z.object({ status: z.enum(['active', 'disabled']) });

/**
 * Registered APIs (resource servers), beside the apps: the approval queue of those developers
 * declared, and the switch that stops tokens for one. Global administrators only, as for apps.
 */
export function mountResourceServers(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  const forms = formBody();
  const requireGlobal: Middleware = async (ctx, next) => {
    if (!scopeOf(contextOf(ctx).principal, 'apps.assign').global) {
      throw new AccessDenied(localizable('registered APIs serve the whole province: they are for global administrators', 'problem.resource_server.global_only'), 'resource_server.list');
    }
    await next();
  };

  router.get('/resource-servers', ...guard, requireGlobal, async (ctx) => {
    const [apis, clients] = await Promise.all([listResourceServersInCare(deps.db, contextOf(ctx)), listClients(deps.db)]);
    const appNames = Object.fromEntries(clients.map((client) => [client.client_id, typeof client.metadata['client_name'] === 'string' ? client.metadata['client_name'] : client.client_id]));
    render(deps, ctx, 'admin/resource-servers', 'admin.apis.title', { apis, appNames, pending: apis.filter((api) => api.status === 'pending') });
  });

  // Rejecting is final (the identifier stays taken): say so before it happens.
  router.get('/resource-servers/:id/reject', ...guard, requireGlobal, async (ctx) => {
    const id = ctx.params['id'] ?? '';
    const api = z.uuid().safeParse(id).success ? await findResourceServer(deps.db, id) : undefined;
    assertThat(api?.status === 'pending', () => new AppError('not_found', localizable(`no API waiting for approval with id ${id}`, 'problem.resource_server.not_pending', { id }), 404));
    render(deps, ctx, 'admin/resource-server-reject', 'admin.apis.reject_title', { api });
  });

  router.post('/resource-servers/:id/decision', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = decisionForm.safeParse(bodyOf(ctx));
    if (!form.success) throw invalidInput(localizable('decision: choose approve or reject', 'problem.resource_server.choose_decision'));
    await decideOnResourceServer(deps.db, contextOf(ctx), ctx.params['id'] ?? '', form.data.decision);
    done(ctx, '/admin/resource-servers', form.data.decision === 'approve' ? 'api_approved' : 'api_rejected');
  });

  router.post('/resource-servers/:id/status', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = statusForm.safeParse(bodyOf(ctx));
    if (!form.success) throw invalidInput(localizable('status: choose active or disabled', 'problem.resource_server.choose_status'));
    await changeResourceServerStatus(deps.db, contextOf(ctx), ctx.params['id'] ?? '', form.data.status);
    done(ctx, '/admin/resource-servers', form.data.status === 'disabled' ? 'api_disabled' : 'api_enabled');
  });
}
