import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import { listAuditEvents } from '../../db/queries/audit-events.ts';
import { listGroups } from '../../db/queries/groups.ts';
import { listOrgUnits } from '../../db/queries/org-units.ts';
import type { UserDetail } from '../../db/queries/users.ts';
import { adminRoles, userStatuses, type UserStatus } from '../../db/schema.ts';
import { AccessDenied, isPermitted, scopeCovers, scopeOf, subtreeFilter, type Permission } from '../../domain/authorization.ts';
import { maskNationalId } from '../../domain/person-fields.ts';
import { grantRole, listRoleAssignmentsInScope, newRoleAssignmentSchema, revokeRole } from '../../domain/role-assignments.ts';
import { listSessions } from '../../domain/sessions.ts';
import {
  changeUserStatus, createUser, getUser, listUsersInScope, newUserSchema, resetUserFactors, sendActivation, unlockUser, updateUser, userListCursor,
  userPatchSchema,
} from '../../domain/users.ts';
import { AppError, assertThat, localizable } from '../../errors.ts';
import { decodeCursor, encodeCursor } from '../api/route.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody } from '../forms.ts';
import {
  auditLabel, bodyOf, contextOf, definedEntries, done, fieldErrors, invalidForm, messageOnPage, refusedAsForm, render, type AdminConsoleDeps,
} from './pages.ts';

/** Rows on a page of the user list. */
const pageSize = 25;
const listQuery = z.object({
  q: z.string().trim().max(200).optional().transform((value) => value || undefined),
  status: z.enum(userStatuses).optional().catch(undefined),
  unit: z.uuid().optional().catch(undefined),
  group: z.uuid().optional().catch(undefined),
  after: z.string().max(400).optional(),
});

/** The fields of the person form, as the browser sends them: text, empty for "none"; one left out stays as it is. */
const personForm = z.object({
  full_name: z.string().max(400).optional(),
  username: z.string().max(200).optional(),
  email: z.string().max(400).optional(),
  phone: z.string().max(64).optional(),
  employee_code: z.string().max(100).optional(),
  national_id: z.string().max(40).optional(),
  position: z.string().max(400).optional(),
  org_unit_id: z.string().max(64).optional(),
  version: z.string().max(12).optional(),
});
type PersonForm = Required<z.infer<typeof personForm>>;
const personFields = ['full_name', 'username', 'email', 'phone', 'employee_code', 'national_id', 'position', 'org_unit_id'] as const;

const lifecycleActions = {
  suspend: { status: 'suspended', notice: 'suspended' },
  disable: { status: 'disabled', notice: 'disabled' },
  enable: { status: 'active', notice: 'enabled' },
} as const satisfies Record<string, { status: UserStatus; notice: string }>;

const roleForm = z.object({ role: z.string().max(40).default(''), org_unit_id: z.string().max(64).default('') });


/**
 * People: the list (accent-insensitive search, filters by status, unit and group, keyset pages),
 * one person's page with what may be done to them, and the form that creates or edits them.
 */
export function mountPeople(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  const forms = formBody();

  router.get('/users', ...guard, async (ctx) => {
    const context = contextOf(ctx);
    const parsedQuery = listQuery.safeParse(ctx.query);
    const query: z.infer<typeof listQuery> = parsedQuery.success ? parsedQuery.data : { q: undefined };
    const after = decodeCursor(query.after, userListCursor);
    const rows = await listUsersInScope(deps, context, {
      q: query.q, status: query.status, withinId: query.unit, groupId: query.group, after, limit: pageSize + 1,
    });
    const more = rows.length > pageSize;
    const shown = rows.slice(0, pageSize);
    const last = shown.at(-1);
    const subtrees = subtreeFilter(scopeOf(context.principal, 'users.read'));
    const [units, groups] = await Promise.all([
      listOrgUnits(deps.db, { subtrees, status: 'active', limit: 2000 }),
      listGroups(deps.db, { subtrees: subtreeFilter(scopeOf(context.principal, 'groups.read')), limit: 500 }),
    ]);
    const next = more && last ? new URLSearchParams({ ...definedEntries({ q: query.q, status: query.status, unit: query.unit, group: query.group }), after: encodeCursor({ key: last.sort_key, id: last.id }) }) : null;
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

  router.get('/users/new', ...guard, async (ctx) => {
    await renderPersonForm(deps, ctx, null, emptyForm(), {});
  });

  router.post('/users', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = formFrom(ctx, emptyForm());
    const parsed = newUserSchema.safeParse(toInput(form));
    if (!parsed.success) {
      ctx.status = 400;
      await renderPersonForm(deps, ctx, null, form, fieldErrors(ctx, parsed.error));
      return;
    }
    const created = await refusedAsForm(ctx, () => createUser(deps, contextOf(ctx), parsed.data), (message) => renderPersonForm(deps, ctx, null, form, { _form: message }));
    if (created) done(ctx, `/admin/users/${created.id}`, 'created');
  });

  router.get('/users/:id', ...guard, async (ctx) => {
    const context = contextOf(ctx);
    const user = await getUser(deps, context, ctx.params['id'] ?? '');
    const mayAudit = isPermitted(context.principal, 'audit.read');
    const mayReadRoles = isPermitted(context.principal, 'roles.read');
    const mayGrant = isPermitted(context.principal, 'roles.write');
    const [roles, userSessions, events, grantUnits] = await Promise.all([
      mayReadRoles ? listRoleAssignmentsInScope(deps, context, { userId: user.id, limit: 100 }) : Promise.resolve([]),
      listSessions(deps.db, user.id),
      mayAudit
        ? listAuditEvents(deps.db, { targetType: 'user', targetId: user.id, withMergedAccounts: true, subtrees: subtreeFilter(scopeOf(context.principal, 'audit.read')), limit: 20 })
        : Promise.resolve([]),
      mayGrant ? listOrgUnits(deps.db, { subtrees: subtreeFilter(scopeOf(context.principal, 'roles.write')), status: 'active', limit: 2000 }) : Promise.resolve([]),
    ]);
    const covers = (permission: Permission) => scopeCovers(scopeOf(context.principal, permission), user.org_unit?.path ?? null);
    render(deps, ctx, 'admin/user', 'admin.user.title', (t) => ({
      user: { ...user, national_id: user.national_id && !covers('users.write') ? maskNationalId(user.national_id) : user.national_id },
      statusLabel: t(`admin.status.${user.status}`),
      roles: roles.map((role) => ({ ...role, label: t(`admin.role.${role.role}`) })),
      mayReadRoles, mayGrant, grantUnits, mayGrantGlobally: scopeOf(context.principal, 'roles.write').global,
      roleChoices: adminRoles.map((role) => ({ role, label: t(`admin.role.${role}`) })),
      sessions: userSessions, events: events.map((event) => ({ ...event, label: auditLabel(t, event.action) })), mayAudit,
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

  // Roles: the domain decides, and says why when it refuses (you may grant only what you hold, where you hold it).
  router.post('/users/:id/roles', forms, requireCsrfToken, ...guard, async (ctx) => {
    const id = ctx.params['id'] ?? '';
    const form = roleForm.safeParse(bodyOf(ctx));
    const parsed = newRoleAssignmentSchema.safeParse({
      user_id: id, role: form.success ? form.data.role : '', org_unit_id: form.success && form.data.org_unit_id ? form.data.org_unit_id : null,
    });
    if (!parsed.success) throw invalidForm(ctx, parsed.error);
    await grantRole(deps, contextOf(ctx), parsed.data);
    done(ctx, `/admin/users/${id}`, 'role_granted');
  });

  router.post('/users/:id/roles/:assignment/revoke', forms, requireCsrfToken, ...guard, async (ctx) => {
    await revokeRole(deps, contextOf(ctx), ctx.params['assignment'] ?? '');
    done(ctx, `/admin/users/${ctx.params['id'] ?? ''}`, 'role_revoked');
  });

  router.get('/users/:id/edit', ...guard, async (ctx) => {
    const user = await getUser(deps, contextOf(ctx), ctx.params['id'] ?? '');
    await renderPersonForm(deps, ctx, user, formOf(user), {});
  });

  router.post('/users/:id', forms, requireCsrfToken, ...guard, async (ctx) => {
    const context = contextOf(ctx);
    const id = ctx.params['id'] ?? '';
    const current = await getUser(deps, context, id);
    const form = formFrom(ctx, formOf(current));
    const parsed = userPatchSchema.safeParse(toInput(form, current));
    if (!parsed.success) {
      ctx.status = 400;
      await renderPersonForm(deps, ctx, current, form, fieldErrors(ctx, parsed.error));
      return;
    }
    const version = Number.parseInt(form.version, 10);
    try {
      await updateUser(deps, context, id, Number.isSafeInteger(version) ? version : undefined, parsed.data);
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'precondition_failed')) {
        if (error instanceof AppError && error.status < 500 && error.code !== 'forbidden') {
          ctx.status = error.status;
          await renderPersonForm(deps, ctx, current, form, { _form: messageOnPage(ctx, error) });
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

  // Suspending and disabling end every session (disabling is for good: a leaver, a breach): before
  // either happens, say whom it signs out of how many apps.
  for (const verb of ['suspend', 'disable'] as const) {
    router.get(`/users/:id/${verb}`, ...guard, async (ctx) => {
      const context = contextOf(ctx);
      const user = await getUser(deps, context, ctx.params['id'] ?? '');
      assertThat(
        scopeCovers(scopeOf(context.principal, 'users.lifecycle'), user.org_unit?.path ?? null),
        () => new AccessDenied(localizable(`you may not ${verb} this person: their unit is outside the part of the org tree where you change account status`, `problem.user.${verb}_outside_scope`), `user.${verb}`, { type: 'user', id: user.id }, user.primary_org_unit_id),
      );
      const userSessions = await listSessions(deps.db, user.id);
      const apps = new Set(userSessions.flatMap((session) => session.clientIds));
      render(deps, ctx, 'admin/user-status-change', `admin.${verb}.title`, { verb, user, apps: apps.size, sessions: userSessions.length });
    });
  }

  for (const [verb, action] of Object.entries(lifecycleActions)) {
    router.post(`/users/:id/${verb}`, forms, requireCsrfToken, ...guard, async (ctx) => {
      const id = ctx.params['id'] ?? '';
      await changeUserStatus(deps, contextOf(ctx), id, undefined, action.status);
      done(ctx, `/admin/users/${id}`, action.notice);
    });
  }

  router.post('/users/:id/unlock', forms, requireCsrfToken, ...guard, async (ctx) => {
    const id = ctx.params['id'] ?? '';
    await unlockUser(deps, contextOf(ctx), id);
    done(ctx, `/admin/users/${id}`, 'unlocked');
  });

  router.post('/users/:id/reset-factors', forms, requireCsrfToken, ...guard, async (ctx) => {
    const id = ctx.params['id'] ?? '';
    await resetUserFactors(deps, contextOf(ctx), id);
    done(ctx, `/admin/users/${id}`, 'factors_reset');
  });

  router.post('/users/:id/activation', forms, requireCsrfToken, ...guard, async (ctx) => {
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

}

/** What was posted, over `base` for the fields left out; a tampered post (a field sent twice) changes nothing. */
function formFrom(ctx: Context, base: PersonForm): PersonForm {
  const parsed = personForm.safeParse(bodyOf(ctx));
  if (!parsed.success) return base;
  return { ...base, ...Object.fromEntries(Object.entries(parsed.data).filter((entry) => entry[1] !== undefined)) };
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

