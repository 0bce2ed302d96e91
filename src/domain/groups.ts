import type { Kysely } from 'kysely';
import { z } from 'zod';

import { isUniqueViolation } from '../db/errors.ts';
import { inTransaction } from '../db/transactions.ts';
import {
  addGroupMember,
  deleteGroup,
  findGroup,
  insertGroup,
  listGroups,
  removeGroupMember,
  updateGroupFields,
  type GroupRow,
} from '../db/queries/groups.ts';
import { findOrgUnitById, findOrgUnitsForShare } from '../db/queries/org-units.ts';
import type { Database } from '../db/schema.ts';
import { AppError, assertThat, conflict, localizable } from '../errors.ts';
import { recordAuditEvent } from './audit.ts';
import { requirePermission, scopeOf, subtreeFilter, type AdminContext } from './authorization.ts';
import { auditBase, orgUnitNotFound, versionMismatch } from './org-units.ts';
import { idSchema, normalizeName } from './person-fields.ts';
import { refuseSodViolations } from './separation-of-duties.ts';
import { getUser } from './users.ts';

/** Groups live in an org unit and hold people; whoever administers the unit manages its groups. */

export interface GroupDeps {
  readonly db: Kysely<Database>;
}

const groupNameSchema = z.string().transform(normalizeName)
  .pipe(z.string().min(1, 'a group needs a name').max(200, 'a group name has at most 200 characters'));

export const newGroupSchema = z.object({
  org_unit_id: idSchema,
  name: groupNameSchema,
  description: z.string().trim().max(1000).nullable().optional(),
});

export const groupPatchSchema = z.object({
  name: groupNameSchema.optional(),
  description: z.string().trim().max(1000).nullable().optional(),
});

export const groupNotFound = (id: string) => new AppError('not_found', localizable(`no group with id ${id}`, 'problem.group.not_found', { id }), 404);
const target = (id: string) => ({ type: 'group', id });
const outsideScope = localizable('this group belongs to a unit outside the part of the org tree you administer', 'problem.group.outside_scope');

async function loadGroupFor(db: Kysely<Database>, context: AdminContext, id: string, permission: 'groups.read' | 'groups.write', action: string): Promise<GroupRow> {
  const group = await findGroup(db, id);
  assertThat(group, groupNotFound(id));
  requirePermission(context.principal, permission, group.org_unit_path, { action, target: target(id), message: outsideScope });
  return group;
}

export function getGroup(deps: GroupDeps, context: AdminContext, id: string): Promise<GroupRow> {
  return loadGroupFor(deps.db, context, id, 'groups.read', 'group.read');
}

export async function listGroupsInScope(
  deps: GroupDeps,
  context: AdminContext,
  filter: { withinId?: string | undefined; q?: string | undefined; afterId?: string | undefined; limit: number },
): Promise<GroupRow[]> {
  let within: string | undefined;
  if (filter.withinId !== undefined) {
    const unit = await findOrgUnitById(deps.db, filter.withinId);
    assertThat(unit, orgUnitNotFound(filter.withinId));
    within = unit.path;
  }
  return listGroups(deps.db, { subtrees: subtreeFilter(scopeOf(context.principal, 'groups.read')), within, q: filter.q, afterId: filter.afterId, limit: filter.limit });
}

export async function createGroup(deps: GroupDeps, context: AdminContext, input: z.output<typeof newGroupSchema>): Promise<GroupRow> {
  return withUniqueName(input.name, () => inTransaction(deps.db, async (trx) => {
    const [unit] = await findOrgUnitsForShare(trx, [input.org_unit_id]);
    assertThat(unit, () => new AppError('invalid_input', localizable(`there is no org unit with id ${input.org_unit_id}`, 'problem.org_unit.no_such_unit', { id: input.org_unit_id }), 400));
    requirePermission(context.principal, 'groups.write', unit.path, {
      action: 'group.create', target: { type: 'org_unit', id: unit.id }, message: localizable('you can create groups only in units you administer', 'problem.group.create_outside_scope'),
    });
    assertThat(unit.status === 'active', conflict(localizable(`the org unit ${unit.code} is closed`, 'problem.org_unit.closed', { code: unit.code })));
    const group = await insertGroup(trx, { org_unit_id: unit.id, name: input.name, description: input.description ?? null });
    await recordAuditEvent(trx, { ...auditBase(context), action: 'group.create', target: target(group.id), orgUnitId: unit.id, after: { name: group.name, description: group.description } });
    const created = await findGroup(trx, group.id);
    return created!;
  }));
}

export async function updateGroup(
  deps: GroupDeps,
  context: AdminContext,
  id: string,
  expectedVersion: number | undefined,
  patch: z.output<typeof groupPatchSchema>,
): Promise<GroupRow> {
  return withUniqueName(patch.name ?? '', () => inTransaction(deps.db, async (trx) => {
    const group = await loadGroupFor(trx, context, id, 'groups.write', 'group.update');
    assertThat(expectedVersion === undefined || expectedVersion === group.version, versionMismatch('this group'));
    const fields: { name?: string; description?: string | null } = {};
    if (patch.name !== undefined && patch.name !== group.name) fields.name = patch.name;
    if (patch.description !== undefined && patch.description !== group.description) fields.description = patch.description;
    if (Object.keys(fields).length === 0) return group;
    assertThat(await updateGroupFields(trx, id, group.version, fields), versionMismatch('this group'));
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'group.update', target: target(id), orgUnitId: group.org_unit_id,
      before: { name: group.name, description: group.description }, after: fields,
    });
    return (await findGroup(trx, id))!;
  }));
}

export async function removeGroup(deps: GroupDeps, context: AdminContext, id: string): Promise<void> {
  await inTransaction(deps.db, async (trx) => {
    const group = await loadGroupFor(trx, context, id, 'groups.write', 'group.delete');
    await deleteGroup(trx, id);
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'group.delete', target: target(id), orgUnitId: group.org_unit_id,
      before: { name: group.name, description: group.description, member_count: group.member_count },
    });
  });
}

/** Adds or removes a member: the admin must manage the group and be able to see the person. */
export async function changeGroupMembership(
  deps: GroupDeps,
  context: AdminContext,
  groupId: string,
  userId: string,
  change: 'add' | 'remove',
): Promise<void> {
  await inTransaction(deps.db, async (trx) => {
    const action = change === 'add' ? 'group.add_member' : 'group.remove_member';
    const group = await loadGroupFor(trx, context, groupId, 'groups.write', action);
    const user = await getUser({ db: trx }, context, userId);
    assertThat(change === 'remove' || user.status !== 'disabled', conflict(localizable('a disabled user cannot be added to a group', 'problem.group.disabled_member')));
    const changed = change === 'add' ? await addGroupMember(trx, groupId, userId) : await removeGroupMember(trx, groupId, userId);
    if (!changed) return;
    // The group may carry app roles (an assignment to it): joining must not break a rule.
    if (change === 'add') await refuseSodViolations(trx, { userIds: [userId] }, { action, target: target(groupId), orgUnitId: group.org_unit_id });
    await recordAuditEvent(trx, {
      ...auditBase(context), action, target: target(groupId), orgUnitId: group.org_unit_id, details: { user_id: userId, username: user.username },
    });
  });
}

async function withUniqueName<T>(name: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(localizable(`this unit already has a group named "${name}"`, 'problem.group.name_taken', { name }), error);
    throw error;
  }
}
