import type { Kysely } from 'kysely';
import { z } from 'zod';

import { findActiveClient } from '../db/queries/clients.ts';
import { findOrgUnitById } from '../db/queries/org-units.ts';
import {
  countActiveUsersWithRole,
  lockSuperAdministrators,
  deleteRoleAssignment,
  findRoleAssignment,
  insertRoleAssignment,
  listRoleAssignments,
  type RoleAssignmentRow,
  type RoleHolder,
} from '../db/queries/role-assignments.ts';
import { adminRoles, type AdminRole, type Database, type RoleAssignment } from '../db/schema.ts';
import { AppError, assertThat, conflict, invalidInput, localizable } from '../errors.ts';
import { recordAuditEvent } from './audit.ts';
import {
  AccessDenied,
  isSelf,
  mayGrantRole,
  requirePermission,
  scopeOf,
  subtreeFilter,
  type AdminContext,
} from './authorization.ts';
import { auditBase } from './org-units.ts';
import { getUser } from './users.ts';
import { idSchema } from './person-fields.ts';

export interface RoleAssignmentDeps {
  readonly db: Kysely<Database>;
}

export const newRoleAssignmentSchema = z.object({
  user_id: idSchema.optional(),
  client_id: z.string().min(1).max(200).optional(),
  role: z.enum(adminRoles),
  /** The subtree the role covers; null or absent for a global role. */
  org_unit_id: idSchema.nullable().optional(),
}).refine((value) => (value.user_id === undefined) !== (value.client_id === undefined), 'give exactly one of user_id and client_id');

const target = (id: string) => ({ type: 'role_assignment', id });
const ownRoles = localizable('nobody can change their own roles; ask another administrator', 'problem.role.own_roles');
const grantedBy = (context: AdminContext) =>
  'userId' in context.principal.holder ? `user:${context.principal.holder.userId}` : `client:${context.principal.holder.clientId}`;

export async function listRoleAssignmentsInScope(
  deps: RoleAssignmentDeps,
  context: AdminContext,
  filter: { userId?: string | undefined; clientId?: string | undefined; role?: AdminRole | undefined; afterId?: string | undefined; limit: number },
): Promise<RoleAssignmentRow[]> {
  return listRoleAssignments(deps.db, { ...filter, subtrees: subtreeFilter(scopeOf(context.principal, 'roles.read')) });
}

/**
 * Grants an admin role over a subtree (or globally). The granter must manage roles there and hold
 * the role themselves over a scope that includes it; nobody grants anything to themselves.
 */
export async function grantRole(deps: RoleAssignmentDeps, context: AdminContext, input: z.output<typeof newRoleAssignmentSchema>): Promise<RoleAssignment> {
  return deps.db.transaction().execute(async (trx) => {
    const holder: RoleHolder = input.user_id !== undefined ? { userId: input.user_id } : { clientId: input.client_id! };
    const unitId = input.org_unit_id ?? null;
    assertThat(!(input.role === 'super_admin' && unitId !== null), invalidInput(localizable('super_admin is a global role: leave org_unit_id out', 'problem.role.super_admin_global')));
    if (isSelf(context.principal, holder)) throw new AccessDenied(ownRoles, 'role.grant');
    const unit = unitId === null ? null : await findOrgUnitById(trx, unitId);
    assertThat(unitId === null || unit, () => invalidInput(localizable(`there is no org unit with id ${unitId ?? ''}`, 'problem.org_unit.no_such_unit', { id: unitId ?? '' })));
    assertThat(unit?.status !== 'closed', () => conflict(localizable(`the org unit ${unit?.code ?? ''} is closed`, 'problem.org_unit.closed', { code: unit?.code ?? '' })));
    if (!mayGrantRole(context.principal, input.role, unit?.path ?? null)) {
      throw new AccessDenied(
        unit
          ? localizable(`you can grant ${input.role} only if you hold it over ${unit.code} yourself and administer roles there`, 'problem.role.grant_beyond_you', { role: input.role, code: unit.code })
          : localizable(`only someone who holds ${input.role} globally can grant it globally`, 'problem.role.grant_global_beyond_you', { role: input.role }),
        'role.grant',
      );
    }
    let orgUnitOfHolder: string | null = null;
    if ('userId' in holder) {
      const user = await getUser({ db: trx }, context, holder.userId);
      assertThat(user.status !== 'disabled', conflict(localizable('a disabled user cannot hold a role', 'problem.role.disabled_holder')));
      orgUnitOfHolder = user.primary_org_unit_id;
    } else {
      requirePermission(context.principal, 'roles.write', null, { action: 'role.grant', message: localizable('only a global administrator can give roles to service clients', 'problem.role.service_client_needs_global') });
      assertThat(await findActiveClient(trx, holder.clientId), () => invalidInput(localizable(`there is no client ${holder.clientId}`, 'problem.client.not_found', { id: holder.clientId })));
    }
    const created = await insertRoleAssignment(trx, holder, { role: input.role, orgUnitId: unitId, grantedBy: grantedBy(context) });
    assertThat(created, conflict(localizable('this role is already granted there', 'problem.role.already_granted')));
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'role.grant', target: target(created.id), orgUnitId: unitId ?? orgUnitOfHolder,
      after: { user_id: created.user_id, client_id: created.client_id, role: created.role, org_unit_id: created.org_unit_id },
    });
    return created;
  });
}

export async function revokeRole(deps: RoleAssignmentDeps, context: AdminContext, id: string): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    const assignment = await findRoleAssignment(trx, id);
    assertThat(assignment, () => new AppError('not_found', localizable(`no role assignment with id ${id}`, 'problem.role.not_found', { id }), 404));
    const holder: RoleHolder = assignment.user_id !== null ? { userId: assignment.user_id } : { clientId: assignment.client_id! };
    if (isSelf(context.principal, holder)) throw new AccessDenied(ownRoles, 'role.revoke', target(id));
    const unit = assignment.org_unit_id === null ? null : await findOrgUnitById(trx, assignment.org_unit_id);
    if (!mayGrantRole(context.principal, assignment.role, unit?.path ?? null)) {
      throw new AccessDenied(localizable(`you can take away ${assignment.role} only where you could grant it`, 'problem.role.revoke_beyond_you', { role: assignment.role }), 'role.revoke', target(id));
    }
    if (assignment.role === 'super_admin' && assignment.user_id !== null) {
      await lockSuperAdministrators(trx);
      assertThat((await countActiveUsersWithRole(trx, 'super_admin', assignment.user_id)) > 0,
        conflict(localizable('this is the last active super administrator; grant the role to someone else first', 'problem.role.last_super_admin')));
    }
    await deleteRoleAssignment(trx, id);
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'role.revoke', target: target(id), orgUnitId: assignment.org_unit_id,
      before: { user_id: assignment.user_id, client_id: assignment.client_id, role: assignment.role, org_unit_id: assignment.org_unit_id },
    });
  });
}
