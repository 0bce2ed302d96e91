import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';

import { listOrgUnits } from '../../db/queries/org-units.ts';
import type { GroupRow } from '../../db/queries/groups.ts';
import { isPermitted, scopeCovers, scopeOf, subtreeFilter } from '../../domain/authorization.ts';
import {
  changeGroupMembership, createGroup, getGroup, groupPatchSchema, listGroupsInScope, newGroupSchema, removeGroup, updateGroup,
} from '../../domain/groups.ts';
import { listUsersInScope } from '../../domain/users.ts';
import { translator } from '../../i18n/catalog.ts';
import { requireCsrfToken } from '../csrf.ts';
import { formBody } from '../forms.ts';
import { pageContext } from '../page.ts';
import { bodyOf, contextOf, done, fieldErrors, refusedAsForm, render, type AdminConsoleDeps } from './pages.ts';

const groupForm = z.object({
  org_unit_id: z.string().max(64).default(''),
  name: z.string().max(400).default(''),
  description: z.string().max(2000).default(''),
});
const memberForm = z.object({ username: z.string().max(200).default('') });

/** Members shown on a group's page. */
const shownMembers = 200;

/**
 * Groups: the list of the admin's scope with a form to create one in a unit they administer, and
 * a group's page to rename it, add a person by username, take one out, or delete the group.
 */
export function mountGroups(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  const forms = formBody();

  router.get('/groups', ...guard, async (ctx) => {
    await renderGroups(deps, ctx, groupForm.parse({}), {});
  });

  router.post('/groups', forms, requireCsrfToken, ...guard, async (ctx) => {
    const form = groupForm.safeParse(bodyOf(ctx));
    const values = form.success ? form.data : groupForm.parse({});
    const parsed = newGroupSchema.safeParse({ org_unit_id: values.org_unit_id, name: values.name, description: values.description.trim() || null });
    if (!parsed.success) {
      ctx.status = 400;
      await renderGroups(deps, ctx, values, fieldErrors(ctx, parsed.error));
      return;
    }
    const created = await refusedAsForm(ctx, () => createGroup(deps, contextOf(ctx), parsed.data), (message) => renderGroups(deps, ctx, values, { _form: message }));
    if (created) done(ctx, `/admin/groups/${created.id}`, 'group_created');
  });

  router.get('/groups/:id', ...guard, async (ctx) => {
    const group = await getGroup(deps, contextOf(ctx), ctx.params['id'] ?? '');
    await renderGroup(deps, ctx, group, {});
  });

  router.post('/groups/:id', forms, requireCsrfToken, ...guard, async (ctx) => {
    const group = await getGroup(deps, contextOf(ctx), ctx.params['id'] ?? '');
    const form = groupForm.safeParse(bodyOf(ctx));
    const values = form.success ? form.data : groupForm.parse({});
    const parsed = groupPatchSchema.safeParse({ name: values.name || undefined, description: values.description.trim() || null });
    if (!parsed.success) {
      ctx.status = 400;
      await renderGroup(deps, ctx, group, fieldErrors(ctx, parsed.error));
      return;
    }
    const saved = await refusedAsForm(ctx, () => updateGroup(deps, contextOf(ctx), group.id, undefined, parsed.data), (message) => renderGroup(deps, ctx, group, { _form: message }));
    if (saved) done(ctx, `/admin/groups/${group.id}`, 'group_saved');
  });

  router.post('/groups/:id/delete', forms, requireCsrfToken, ...guard, async (ctx) => {
    await removeGroup(deps, contextOf(ctx), ctx.params['id'] ?? '');
    done(ctx, '/admin/groups', 'group_deleted');
  });

  router.post('/groups/:id/members', forms, requireCsrfToken, ...guard, async (ctx) => {
    const context = contextOf(ctx);
    const group = await getGroup(deps, context, ctx.params['id'] ?? '');
    const form = memberForm.safeParse(bodyOf(ctx));
    const username = (form.success ? form.data.username : '').trim().toLowerCase();
    // Found the way the admin could find them in the list: within their scope, by exact username.
    const [person] = username ? await listUsersInScope(deps, context, { username, limit: 1 }) : [];
    if (!person) {
      ctx.status = 400;
      await renderGroup(deps, ctx, group, { username: translator(pageContext(ctx).locale)('problem.group.member_unknown', { username }) });
      return;
    }
    const added = await refusedAsForm(ctx, () => changeGroupMembership(deps, context, group.id, person.id, 'add').then(() => true),
      (message) => renderGroup(deps, ctx, group, { username: message }));
    if (added) done(ctx, `/admin/groups/${group.id}`, 'member_added');
  });

  router.post('/groups/:id/members/:userId/remove', forms, requireCsrfToken, ...guard, async (ctx) => {
    const id = ctx.params['id'] ?? '';
    await changeGroupMembership(deps, contextOf(ctx), id, ctx.params['userId'] ?? '', 'remove');
    done(ctx, `/admin/groups/${id}`, 'member_removed');
  });
}

async function renderGroups(deps: AdminConsoleDeps, ctx: Context, form: z.infer<typeof groupForm>, errors: Record<string, string>): Promise<void> {
  const context = contextOf(ctx);
  const [groups, units] = await Promise.all([
    listGroupsInScope(deps, context, { limit: 1000 }),
    isPermitted(context.principal, 'groups.write')
      ? listOrgUnits(deps.db, { subtrees: subtreeFilter(scopeOf(context.principal, 'groups.write')), status: 'active', limit: 2000 })
      : Promise.resolve([]),
  ]);
  const unitNames = new Map(units.map((unit) => [unit.id, unit.name]));
  render(deps, ctx, 'admin/groups', 'admin.groups.title', {
    groups: groups.map((group) => ({ ...group, unitName: unitNames.get(group.org_unit_id) ?? null })), units, form, errors,
  });
}

async function renderGroup(deps: AdminConsoleDeps, ctx: Context, group: GroupRow, errors: Record<string, string>): Promise<void> {
  const context = contextOf(ctx);
  const members = await listUsersInScope(deps, context, { groupId: group.id, sort: 'family_name', limit: shownMembers });
  render(deps, ctx, 'admin/group', 'admin.groups.group_title', {
    group, members, errors, mayWrite: scopeCovers(scopeOf(context.principal, 'groups.write'), group.org_unit_path),
  });
}
