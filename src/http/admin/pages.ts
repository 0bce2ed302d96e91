import type { Context, Middleware, Next } from 'koa';
import { locales as zodLocales, type z } from 'zod';

import type { Config } from '../../config/index.ts';
import { adminConsole } from '../../domain/built-in-clients.ts';
import { AccessDenied, isPermitted, type AdminContext, type Permission } from '../../domain/authorization.ts';
import type { UserAdminDeps } from '../../domain/users.ts';
import { AppError, localizable, localizedIssueMessage, messageIn, problemOfKind } from '../../errors.ts';
import { isMessageKey, translator, type MessageKey, type Translate } from '../../i18n/catalog.ts';
import type { Logger } from '../../logger.ts';
import { adminContextOfPerson, auditRefusals, rememberAdminContext } from '../admin-context.ts';
import { consoleSessions, sessionOf, type ConsoleSessionDeps } from '../console-session.ts';
import { renderConsolePage } from '../console-page.ts';
import { pageContext } from '../page.ts';
import type { Views } from '../views.ts';

/**
 * What every page of the admin console shares: who may come in, how a page is drawn, how a change
 * comes back with a notice. Pages call the same domain functions as the admin API, with the same
 * AdminContext, so nothing is reachable here that the API would refuse.
 */
export interface AdminConsoleDeps extends ConsoleSessionDeps, UserAdminDeps {
  readonly views: Views;
  readonly logger: Logger;
  /** Personnel decisions read the mover's grace period from here. */
  readonly governance: Config['governance'];
}

export const adminSessions = consoleSessions(adminConsole);

/** The signed-in person, refusals audited, and only someone holding an admin role. */
export function adminGuard(deps: AdminConsoleDeps): Middleware[] {
  return [adminSessions.requireSession(deps), auditRefusals(deps), requireAdministrator(deps)];
}

function requireAdministrator(deps: AdminConsoleDeps) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const context = rememberAdminContext(ctx, await adminContextOfPerson(deps.db, sessionOf(ctx).user, ctx));
    if (context.principal.assignments.length === 0) {
      throw new AccessDenied(localizable('you hold no administrator role; ask your unit\'s IT administrator if you need one', 'problem.console.not_admin'), 'admin_console.open');
    }
    await next();
  };
}

export const contextOf = (ctx: Context) => ctx.state['adminContext'] as AdminContext;
export const bodyOf = (ctx: Context): unknown => (ctx.request as { body?: unknown }).body ?? {};

/** After a change: back to a page (303, so a reload does not post again), with the notice `admin.done.<notice>`. */
export function done(ctx: Context, path: string, notice: string): void {
  ctx.status = 303;
  ctx.redirect(`${path}${path.includes('?') ? '&' : '?'}done=${encodeURIComponent(notice)}`);
}

/** The console's sections, each shown to those who hold its permission somewhere. */
const sections = [
  { path: '/admin', label: 'admin.nav.dashboard', permission: null },
  { path: '/admin/users', label: 'admin.nav.users', permission: 'users.read' },
  { path: '/admin/import', label: 'admin.nav.import', permission: 'users.write' },
  { path: '/admin/decisions', label: 'admin.nav.decisions', permission: 'users.read' },
  { path: '/admin/org-units', label: 'admin.nav.org_units', permission: 'org_units.read' },
  { path: '/admin/reorganization', label: 'admin.nav.reorganization', permission: 'org_units.reorganize' },
  { path: '/admin/directory-merge', label: 'admin.nav.directory_merge', permission: 'org_units.reorganize' },
  { path: '/admin/groups', label: 'admin.nav.groups', permission: 'groups.read' },
  { path: '/admin/clients', label: 'admin.nav.clients', permission: 'apps.assign' },
  { path: '/admin/reviews', label: 'admin.nav.reviews', permission: null },
  { path: '/admin/reports', label: 'admin.nav.reports', permission: 'users.read' },
  { path: '/admin/audit', label: 'admin.nav.audit', permission: 'audit.read' },
] as const satisfies readonly { path: string; label: MessageKey; permission: Permission | null }[];

export function render(deps: AdminConsoleDeps, ctx: Context, view: string, title: MessageKey, data: Record<string, unknown> | ((t: Translate) => Record<string, unknown>)): void {
  const { principal } = contextOf(ctx);
  const shown = sections.filter((section) => section.permission === null || isPermitted(principal, section.permission));
  renderConsolePage(deps.views, ctx, { home: '/admin', sections: shown }, view, title, data);
}

export function auditLabel(t: Translate, action: string): string {
  const key = `audit.${action}`;
  return isMessageKey(key) ? t(key) : action;
}

/** zod's Vietnamese, for the rare problem the catalog has no words for (it mixes in English type names, so it comes second). */
const zodVietnameseError = zodLocales.vi().localeError;
function zodVietnamese(issue: z.core.$ZodIssue): string | undefined {
  const said = zodVietnameseError({ ...issue, input: undefined });
  return typeof said === 'string' ? said : said?.message;
}

/**
 * zod's own problems (empty, too long, not a choice) said again in the page's language from what
 * the issue records, whatever English the schema gave them: beside its field's label, "cannot be
 * empty" says enough. The API parses the same schemas and keeps their English.
 */
function formProblem(t: Translate, issue: z.core.$ZodIssue): string | undefined {
  const said = problemOfKind(issue);
  return said && t(said.key, said.params);
}

/**
 * The first problem with each field of a form, by field name (`_form` for the form as a whole), in
 * the page's language: a schema's own problem by its catalog entry (addLocalizedIssue), zod's by
 * its kind. A refinement without an entry keeps its English rather than vanish.
 */
export function fieldErrors(ctx: Context, error: z.ZodError): Record<string, string> {
  const locale = pageContext(ctx).locale;
  const t = translator(locale);
  const errors: Record<string, string> = {};
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? '_form');
    errors[field] ??= localizedIssueMessage(t, issue)
      ?? (issue.code === 'custom' ? issue.message : formProblem(t, issue) ?? (locale === 'vi' ? zodVietnamese(issue) : undefined) ?? issue.message);
  }
  return errors;
}

/** An error's message in the page's language (its English when it has no catalog entry). */
export function messageOnPage(ctx: Context, error: AppError): string {
  return messageIn(translator(pageContext(ctx).locale), error);
}

/** A refusal the admin can act on (a taken name, a closed unit) is shown on the form, in the page's language; a 403 goes to the error page, audited. */
export async function refusedAsForm<T>(ctx: Context, action: () => Promise<T>, show: (message: string) => Promise<void>): Promise<T | undefined> {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500 || error.code === 'forbidden') throw error;
    ctx.status = error.status;
    await show(messageOnPage(ctx, error));
    return undefined;
  }
}

export function definedEntries(values: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** What is wrong with a form as posted, field by field, in the page's language (see fieldErrors). */
export function formProblemsIn(ctx: Context, error: z.ZodError, formName = 'form'): string {
  return Object.entries(fieldErrors(ctx, error)).map(([field, message]) => `${field === '_form' ? formName : field}: ${message}`).join('; ');
}

/** A refusal of a form that only editing it by hand can break: the English for the logs, the page's language on the page. */
export function invalidForm(ctx: Context, error: z.ZodError): AppError {
  const english = error.issues.map((issue) => issue.message).join('; ');
  return new AppError('invalid_input', { english, localized: { key: 'form.problem.as_posted', params: { problems: formProblemsIn(ctx, error) } } }, 400);
}
