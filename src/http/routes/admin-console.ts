import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { z } from 'zod';

import { listAuditEvents } from '../../db/queries/audit-events.ts';
import { countLockedUsers, countUsersByStatus, countUsersWithoutSecondFactor, loginsPerDay } from '../../db/queries/dashboard.ts';
import { listGroups } from '../../db/queries/groups.ts';
import { listOrgUnits } from '../../db/queries/org-units.ts';
import { scopedAssignmentsOf } from '../../db/queries/role-assignments.ts';
import type { UserDetail } from '../../db/queries/users.ts';
import { userStatuses, type UserStatus } from '../../db/schema.ts';
import { adminConsole } from '../../domain/built-in-clients.ts';
import { AccessDenied, isPermitted, scopeCovers, scopeOf, subtreeFilter, type AdminContext, type Permission } from '../../domain/authorization.ts';
import { maskNationalId } from '../../domain/person-fields.ts';
import { listSessions } from '../../domain/sessions.ts';
import {
  changeUserStatus, createUser, getUser, listUsersInScope, newUserSchema, resetUserFactors, sendActivation, unlockUser, updateUser, userPatchSchema,
  type UserAdminDeps,
} from '../../domain/users.ts';
import { AppError } from '../../errors.ts';
import { isMessageKey, translator, type MessageKey, type Translate } from '../../i18n/catalog.ts';
import type { Logger } from '../../logger.ts';
import { adminContextOfPerson, auditRefusals, rememberAdminContext } from '../admin-context.ts';
import { barChart } from '../charts.ts';
import { consoleSessions, sessionOf, type ConsoleSessionDeps } from '../console-session.ts';
import { csrfToken, requireCsrfToken } from '../csrf.ts';
import { formBody } from '../forms.ts';
import { pageContext } from '../page.ts';
import type { Views } from '../views.ts';

export interface AdminConsoleDeps extends ConsoleSessionDeps, UserAdminDeps {
  readonly views: Views;
  readonly logger: Logger;
}

const sessions = consoleSessions(adminConsole);

/** Rows on a page of the user list. */
const pageSize = 25;
/** Days on the dashboard's sign-in chart. */
const chartDays = 30;

const listQuery = z.object({
  q: z.string().trim().max(200).optional().transform((value) => value || undefined),
  status: z.enum(userStatuses).optional().catch(undefined),
  unit: z.uuid().optional().catch(undefined),
  group: z.uuid().optional().catch(undefined),
  after: z.string().max(400).optional(),
});

/** The fields of the person form, as the browser sends them: text, empty for "none". */
const personForm = z.object({
  full_name: z.string().max(400).default(''),
  username: z.string().max(200).default(''),
  email: z.string().max(400).default(''),
  phone: z.string().max(64).default(''),
  employee_code: z.string().max(100).default(''),
  national_id: z.string().max(40).default(''),
  position: z.string().max(400).default(''),
  org_unit_id: z.string().max(64).default(''),
  version: z.string().max(12).default(''),
});
type PersonForm = z.infer<typeof personForm>;
const personFields = ['full_name', 'username', 'email', 'phone', 'employee_code', 'national_id', 'position', 'org_unit_id'] as const;

const lifecycleActions = {
  suspend: { status: 'suspended', notice: 'suspended' },
  disable: { status: 'disabled', notice: 'disabled' },
  enable: { status: 'active', notice: 'enabled' },
} as const satisfies Record<string, { status: UserStatus; notice: string }>;

/** Notices shown once after a change, named in the URL (?done=…); anything else in that slot is ignored. */
const notices = [
  'created', 'saved', 'suspended', 'disabled', 'enabled', 'unlocked', 'factors_reset', 'activation_sent',
] as const;

/**
 * The admin console at /admin: the admin API's service layer behind pages. Each page builds the
 * same AdminContext the API does (the person and their role assignments, read fresh) and calls
 * the same domain functions, which decide; a refusal is explained on the page and audited. A unit
 * admin sees the same pages as an IT admin, with only their subtree's data.
 */
export function adminConsoleRoutes(deps: AdminConsoleDeps): Router {
  const router = new Router({ prefix: '/admin' });
  const forms = formBody();
  const signedIn = sessions.requireSession(deps);

  sessions.mountSignInRoutes(router, deps);

  const admin = [signedIn, auditRefusals(deps), requireAdministrator(deps)] as const;

  router.get('/', ...admin, async (ctx) => {
    const context = contextOf(ctx);
    const subtrees = subtreeFilter(scopeOf(context.principal, 'users.read'));
    const [statuses, days, locked, withoutFactor] = await Promise.all([
      countUsersByStatus(deps.db, subtrees),
      loginsPerDay(deps.db, subtrees, chartDays),
      countLockedUsers(deps.db, subtrees),
      countUsersWithoutSecondFactor(deps.db, subtrees),
    ]);
    render(deps, ctx, 'admin/dashboard', 'admin.dashboard.title', (t) => ({
      statuses: userStatuses.map((status) => ({ status, label: t(`admin.status.${status}`), count: statuses[status] })),
      chart: barChart(
        days.map((day) => ({ label: day.day.slice(5).split('-').reverse().join('/'), values: [day.succeeded, day.failed] })),
        [{ name: t('admin.dashboard.succeeded'), colour: '#0b5f8a' }, { name: t('admin.dashboard.failed'), colour: '#a4262c' }],
        { width: 640, height: 180, labelEvery: 5 },
      ),
      failedTotal: days.reduce((sum, day) => sum + day.failed, 0),
      succeededTotal: days.reduce((sum, day) => sum + day.succeeded, 0),
      locked,
      withoutFactor,
    }));
  });

  router.get('/users', ...admin, async (ctx) => {
    const context = contextOf(ctx);
    const parsedQuery = listQuery.safeParse(ctx.query);
    const query: z.infer<typeof listQuery> = parsedQuery.success ? parsedQuery.data : { q: undefined };
    const after = decodeAfter(query.after);
    const rows = await listUsersInScope(deps, context, {
      q: query.q, status: query.status, withinId: query.unit, groupId: query.group, sort: 'family_name', after, limit: pageSize + 1,
    });
    const more = rows.length > pageSize;
    const shown = rows.slice(0, pageSize);
    const last = shown.at(-1);
    const subtrees = subtreeFilter(scopeOf(context.principal, 'users.read'));
    const [units, groups] = await Promise.all([
      listOrgUnits(deps.db, { subtrees, status: 'active', limit: 2000 }),
      listGroups(deps.db, { subtrees: subtreeFilter(scopeOf(context.principal, 'groups.read')), limit: 500 }),
    ]);
    const next = more && last ? new URLSearchParams({ ...definedEntries({ q: query.q, status: query.status, unit: query.unit, group: query.group }), after: encodeAfter({ key: last.sort_key, id: last.id }) }) : null;
    render(deps, ctx, 'admin/users', 'admin.users.title', (t) => ({
      query,
      users: shown.map((user) => ({ ...user, statusLabel: t(`admin.status.${user.status}`) })),
      statuses: userStatuses.map((status) => ({ status, label: t(`admin.status.${status}`) })),
      units, groups,
      nextUrl: next ? `/admin/users?${next.toString()}` : null,
      firstUrl: after ? `/admin/users?${new URLSearchParams(definedEntries({ q: query.q, status: query.status, unit: query.unit, group: query.group })).toString()}` : null,
      mayCreate: isPermitted(context.principal, 'users.write'),
    }));
  });

  router.get('/users/new', ...admin, async (ctx) => {
    await renderPersonForm(deps, ctx, null, emptyForm(), {});
  });

  router.post('/users', forms, requireCsrfToken, ...admin, async (ctx) => {
    const form = formFrom(ctx);
    const parsed = newUserSchema.safeParse(toInput(form));
    if (!parsed.success) {
      ctx.status = 400;
      await renderPersonForm(deps, ctx, null, form, fieldErrors(parsed.error));
      return;
    }
    const created = await refusedAsForm(ctx, () => createUser(deps, contextOf(ctx), parsed.data), (message) => renderPersonForm(deps, ctx, null, form, { _form: message }));
    if (created) done(ctx, `/admin/users/${created.id}`, 'created');
  });

  router.get('/users/:id', ...admin, async (ctx) => {
    const context = contextOf(ctx);
    const user = await getUser(deps, context, ctx.params['id'] ?? '');
    const mayAudit = isPermitted(context.principal, 'audit.read');
    const [roles, userSessions, events] = await Promise.all([
      scopedAssignmentsOf(deps.db, { userId: user.id }),
      listSessions(deps.db, user.id),
      mayAudit
        ? listAuditEvents(deps.db, { targetType: 'user', targetId: user.id, subtrees: subtreeFilter(scopeOf(context.principal, 'audit.read')), limit: 20 })
        : Promise.resolve([]),
    ]);
    const covers = (permission: Permission) => scopeCovers(scopeOf(context.principal, permission), user.org_unit?.path ?? null);
    render(deps, ctx, 'admin/user', 'admin.user.title', (t) => ({
      user: { ...user, national_id: user.national_id && !covers('users.write') ? maskNationalId(user.national_id) : user.national_id },
      statusLabel: t(`admin.status.${user.status}`),
      roles, sessions: userSessions, events: events.map((event) => ({ ...event, label: auditLabel(t, event.action) })), mayAudit,
      may: {
        edit: covers('users.write'),
        lifecycle: covers('users.lifecycle'),
        unlock: covers('users.unlock'),
        resetFactors: covers('users.reset_factors'),
        activation: covers('users.activation') && user.status === 'pending_activation',
      },
      activationToken: null,
    }));
  });

  router.get('/users/:id/edit', ...admin, async (ctx) => {
    const user = await getUser(deps, contextOf(ctx), ctx.params['id'] ?? '');
    await renderPersonForm(deps, ctx, user, formOf(user), {});
  });

  router.post('/users/:id', forms, requireCsrfToken, ...admin, async (ctx) => {
    const context = contextOf(ctx);
    const id = ctx.params['id'] ?? '';
    const form = formFrom(ctx);
    const current = await getUser(deps, context, id);
    const parsed = userPatchSchema.safeParse(toInput(form, current));
    if (!parsed.success) {
      ctx.status = 400;
      await renderPersonForm(deps, ctx, current, form, fieldErrors(parsed.error));
      return;
    }
    const version = Number.parseInt(form.version, 10);
    try {
      await updateUser(deps, context, id, Number.isSafeInteger(version) ? version : undefined, parsed.data);
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'precondition_failed')) {
        if (error instanceof AppError && error.status < 500 && error.code !== 'forbidden') {
          ctx.status = error.status;
          await renderPersonForm(deps, ctx, current, form, { _form: error.message });
          return;
        }
        throw error;
      }
      // Someone saved this person meanwhile: show what they changed beside what was typed, and let the admin decide.
      ctx.status = 409;
      const changed = personFields.filter((field) => formOf(current)[field] !== form[field].trim());
      await renderPersonForm(deps, ctx, current, { ...form, version: String(current.version) }, {}, { conflict: changed });
      return;
    }
    done(ctx, `/admin/users/${id}`, 'saved');
  });

  for (const [verb, action] of Object.entries(lifecycleActions)) {
    router.post(`/users/:id/${verb}`, forms, requireCsrfToken, ...admin, async (ctx) => {
      const id = ctx.params['id'] ?? '';
      await changeUserStatus(deps, contextOf(ctx), id, undefined, action.status);
      done(ctx, `/admin/users/${id}`, action.notice);
    });
  }

  router.post('/users/:id/unlock', forms, requireCsrfToken, ...admin, async (ctx) => {
    const id = ctx.params['id'] ?? '';
    await unlockUser(deps, contextOf(ctx), id);
    done(ctx, `/admin/users/${id}`, 'unlocked');
  });

  router.post('/users/:id/reset-factors', forms, requireCsrfToken, ...admin, async (ctx) => {
    const id = ctx.params['id'] ?? '';
    await resetUserFactors(deps, contextOf(ctx), id);
    done(ctx, `/admin/users/${id}`, 'factors_reset');
  });

  router.post('/users/:id/activation', forms, requireCsrfToken, ...admin, async (ctx) => {
    const id = ctx.params['id'] ?? '';
    const sent = await sendActivation(deps, contextOf(ctx), id);
    if (sent.token === null) {
      done(ctx, `/admin/users/${id}`, 'activation_sent');
      return;
    }
    // No address to mail it to: the link is shown this once, for the helpdesk to hand over.
    const link = `${deps.issuer}/account/activate?token=${encodeURIComponent(sent.token)}`;
    render(deps, ctx, 'admin/activation-link', 'admin.activation.title', { link, userId: id });
  });

  return router;
}

/** Only someone holding at least one admin role gets past the door; everyone else is told why. */
function requireAdministrator(deps: AdminConsoleDeps) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const context = rememberAdminContext(ctx, await adminContextOfPerson(deps.db, sessionOf(ctx).user, ctx));
    if (context.principal.assignments.length === 0) {
      throw new AccessDenied('you hold no administrator role; ask your unit\'s IT administrator if you need one', 'admin_console.open');
    }
    await next();
  };
}

const contextOf = (ctx: Context) => ctx.state['adminContext'] as AdminContext;
const bodyOf = (ctx: Context): unknown => (ctx.request as { body?: unknown }).body ?? {};

function done(ctx: Context, path: string, notice: (typeof notices)[number]): void {
  ctx.status = 303;
  ctx.redirect(`${path}?done=${notice}`);
}

function definedEntries(values: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

const afterSchema = z.object({ key: z.string(), id: z.uuid() });
const encodeAfter = (after: z.infer<typeof afterSchema>) => Buffer.from(JSON.stringify(after)).toString('base64url');
function decodeAfter(value: string | undefined): z.infer<typeof afterSchema> | undefined {
  if (!value) return undefined;
  try {
    const parsed = afterSchema.safeParse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** What was posted; a tampered post (a field sent twice) is an empty form, refused by the domain's checks. */
function formFrom(ctx: Context): PersonForm {
  const parsed = personForm.safeParse(bodyOf(ctx));
  return parsed.success ? parsed.data : emptyForm();
}

const emptyForm = (): PersonForm => ({ ...Object.fromEntries(personFields.map((field) => [field, ''])), version: '' }) as PersonForm;

function formOf(user: UserDetail): PersonForm {
  return {
    full_name: user.full_name, username: user.username, email: user.email ?? '', phone: user.phone ?? '', employee_code: user.employee_code ?? '',
    national_id: user.national_id ?? '', position: user.position ?? '', org_unit_id: user.primary_org_unit_id ?? '', version: String(user.version),
  };
}

/**
 * The form as the domain's input: an empty field is "none". On an edit, only fields that differ
 * from the person as they are now are sent, so that a masked national id is not written back.
 */
function toInput(form: PersonForm, current?: UserDetail): Record<string, unknown> {
  const now = current ? formOf(current) : undefined;
  const input: Record<string, unknown> = {};
  for (const field of personFields) {
    const value = form[field].trim();
    if (now && now[field] === value) continue;
    if (field === 'username' || field === 'full_name' || field === 'org_unit_id') {
      if (value || !now) input[field] = value || undefined;
    } else {
      input[field] = value || (now ? null : undefined);
    }
  }
  return input;
}

function fieldErrors(error: z.ZodError): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? '_form');
    errors[field] ??= issue.message;
  }
  return errors;
}

/** A refusal the person can act on (a taken username, a closed unit) is shown on the form; a 403 goes to the error page, audited. */
async function refusedAsForm<T>(ctx: Context, action: () => Promise<T>, show: (message: string) => Promise<void>): Promise<T | undefined> {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500 || error.code === 'forbidden') throw error;
    ctx.status = error.status;
    await show(error.message);
    return undefined;
  }
}

async function renderPersonForm(
  deps: AdminConsoleDeps,
  ctx: Context,
  user: UserDetail | null,
  form: PersonForm,
  errors: Record<string, string>,
  state: { conflict?: readonly (typeof personFields)[number][] } = {},
): Promise<void> {
  const context = contextOf(ctx);
  const units = await listOrgUnits(deps.db, { subtrees: subtreeFilter(scopeOf(context.principal, 'users.write')), status: 'active', limit: 2000 });
  render(deps, ctx, 'admin/user-form', user ? 'admin.user.edit_title' : 'admin.user.new_title', (t) => ({
    user, form, errors, units,
    action: user ? `/admin/users/${user.id}` : '/admin/users',
    fields: personFields.filter((field) => field !== 'org_unit_id').map((field) => ({ name: field, label: t(`admin.field.${field}`) })),
    conflict: state.conflict ? state.conflict.map((field) => t(`admin.field.${field}`)) : null,
    current: user ? formOf(user) : null,
  }));
}

function auditLabel(t: Translate, action: string): string {
  const key = `audit.${action}`;
  return isMessageKey(key) ? t(key) : action;
}

const sections = [
  { path: '/admin', label: 'admin.nav.dashboard', permission: null },
  { path: '/admin/users', label: 'admin.nav.users', permission: 'users.read' },
] as const satisfies readonly { path: string; label: MessageKey; permission: Permission | null }[];

function render(deps: AdminConsoleDeps, ctx: Context, view: string, title: MessageKey, data: Record<string, unknown> | ((t: Translate) => Record<string, unknown>)): void {
  const page = pageContext(ctx);
  const t = translator(page.locale);
  const context = contextOf(ctx);
  const noticeKey = `admin.done.${String(ctx.query['done'])}`;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = deps.views.render(view, page, {
    title: t(title),
    csrfToken: csrfToken(ctx),
    wide: true,
    nav: sections
      .filter((section) => section.permission === null || isPermitted(context.principal, section.permission))
      .map((section) => ({ href: section.path, label: t(section.label), current: section.path === ctx.path })),
    logoutAction: '/admin/logout',
    logoutLabel: t('account.nav.logout'),
    notice: (notices as readonly string[]).includes(String(ctx.query['done'])) && isMessageKey(noticeKey) ? t(noticeKey) : null,
    ...(typeof data === 'function' ? data(t) : data),
  });
}
