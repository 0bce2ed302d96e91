import type { Context, Middleware, Next } from 'koa';

import { AccessDenied, isPermitted } from '../../domain/authorization.ts';
import { developerPortal } from '../../domain/built-in-clients.ts';
import { localizable } from '../../errors.ts';
import type { MessageKey, Translate } from '../../i18n/catalog.ts';
import type { Logger } from '../../logger.ts';
import { adminContextOfPerson, auditRefusals, rememberAdminContext } from '../admin-context.ts';
import { consoleSessions, sessionOf, type ConsoleSessionDeps } from '../console-session.ts';
import { renderConsolePage } from '../console-page.ts';
import type { Views } from '../views.ts';

/**
 * What every page of the developer portal shares. Developers sign in through Mekong ID like any
 * app's users, with the portal's own first-party client (domain/built-in-clients.ts), and act with
 * an AdminContext like the admin console's, so the domain rules (domain/developer-apps.ts) decide.
 */
export interface DeveloperPortalDeps extends ConsoleSessionDeps {
  readonly views: Views;
  readonly logger: Logger;
}

export const developerSessions = consoleSessions(developerPortal);

/**
 * The signed-in person, refusals audited, and only a developer (super_admin includes the role).
 * Other administrators approve and disable apps from the admin console, not here.
 */
export function developerGuard(deps: DeveloperPortalDeps): Middleware[] {
  return [developerSessions.requireSession(deps), auditRefusals(deps), requireDeveloper(deps)];
}

function requireDeveloper(deps: DeveloperPortalDeps) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const { principal } = rememberAdminContext(ctx, await adminContextOfPerson(deps.db, sessionOf(ctx).user, ctx));
    if (!isPermitted(principal, 'clients.register')) {
      throw new AccessDenied(localizable('the developer portal is for people holding the developer role; ask the provincial IT centre for it', 'problem.developer.role_needed'), 'developer_portal.open');
    }
    await next();
  };
}

const sections = [
  { path: '/developers', label: 'developers.nav.apps' }, { path: '/developers/apps/new', label: 'developers.nav.new' }, { path: '/developers/apis', label: 'developers.nav.apis' },
] as const;

export function render(deps: DeveloperPortalDeps, ctx: Context, view: string, title: MessageKey, data: Record<string, unknown> | ((t: Translate) => Record<string, unknown>)): void {
  renderConsolePage(deps.views, ctx, { home: '/developers', sections }, view, title, data);
}
