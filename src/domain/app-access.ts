import type { Kysely } from 'kysely';
import { z } from 'zod';

import {
  coveringAppRoles, deleteAppAssignment, findAppPolicy, insertAppAssignment, liftAppAccessExclusion, listAppAssignments, listAppRoleNames, replaceAppRoles,
  setAppPolicy, setClientScimAccess,
  type AppAssignmentRow,
} from '../db/queries/app-access.ts';
import { findActiveClient } from '../db/queries/clients.ts';
import { findGroup } from '../db/queries/groups.ts';
import { findOrgUnitById } from '../db/queries/org-units.ts';
import { appAccessPolicies, type AppAccessPolicy, type Database } from '../db/schema.ts';
import { AppError, assertThat, conflict, invalidInput, localizable } from '../errors.ts';
import { recordAuditEvent } from './audit.ts';
import { requirePermission, scopeCovers, scopeOf, type AdminContext } from './authorization.ts';
import { clientFlag } from '../oidc/client-flags.ts';
import { appInCare } from './developer-apps.ts';
import { auditBase } from './org-units.ts';
import { refuseSodViolations } from './separation-of-duties.ts';
import { idSchema } from './person-fields.ts';
import { getUser } from './users.ts';

/**
 * Who may use which app, and with which of its roles. An open app takes every active person; a
 * restricted one only those an assignment covers: to a unit (and so its whole subtree), to a
 * group, or to one person. Assignments carry the app's own roles, which it declares. A unit admin
 * assigns within their subtree; opening or restricting an app is for the whole province.
 */
export interface AppAccessDeps {
  readonly db: Kysely<Database>;
}

/**
 * Whether a person may use an app, for a sign-in, a refresh or a userinfo call, given the client
 * as oidc-provider loaded it (its metadata says whether it is restricted): an open app, most of
 * them, costs no query.
 */
export async function mayUseApp(db: Kysely<Database>, client: { clientId: string }, userId: string): Promise<boolean> {
  if (!clientFlag(client, 'access_restricted')) return true;
  return (await coveringAppRoles(db, client.clientId, userId)).covered;
}

const appRoleName = z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'an app role is lower-case letters, digits, "_", "." or "-", starting with a letter');

export const appAssignmentSchema = z.object({
  org_unit_id: idSchema.optional(),
  group_id: idSchema.optional(),
  user_id: idSchema.optional(),
  roles: z.array(appRoleName).max(50).default([]),
}).refine((value) => [value.org_unit_id, value.group_id, value.user_id].filter((id) => id !== undefined).length === 1,
  'give exactly one of org_unit_id, group_id and user_id');

export const appRolesSchema = z.object({
  roles: z.array(z.object({ name: appRoleName, description: z.string().trim().max(500).nullable().optional() })).max(100),
});

const target = (clientId: string) => ({ type: 'client', id: clientId });
const grantedBy = (context: AdminContext) => `${context.principal.actor.type}:${context.principal.actor.id ?? ''}`;

async function activeApp(db: Kysely<Database>, clientId: string) {
  const client = await findActiveClient(db, clientId);
  assertThat(client, () => new AppError('not_found', localizable(`no active app with client id ${clientId}`, 'problem.client.not_active', { id: clientId }), 404));
  return client;
}

/** Where an assignment reaches, for the scope check: the unit's path, the group's unit's, the person's primary unit's. */
async function holderPath(db: Kysely<Database>, context: AdminContext, input: z.output<typeof appAssignmentSchema>): Promise<{ path: string | null; name: string }> {
  if (input.org_unit_id !== undefined) {
    const unit = await findOrgUnitById(db, input.org_unit_id);
    assertThat(unit, () => invalidInput(localizable(`there is no org unit with id ${input.org_unit_id ?? ''}`, 'problem.org_unit.no_such_unit', { id: input.org_unit_id ?? '' })));
    assertThat(unit.status === 'active', () => conflict(localizable(`the org unit ${unit.code} is closed`, 'problem.org_unit.closed', { code: unit.code })));
    return { path: unit.path, name: unit.code };
  }
  if (input.group_id !== undefined) {
    const group = await findGroup(db, input.group_id);
    assertThat(group, () => invalidInput(localizable(`there is no group with id ${input.group_id ?? ''}`, 'problem.group.not_found', { id: input.group_id ?? '' })));
    return { path: group.org_unit_path, name: group.name };
  }
  const user = await getUser({ db }, context, input.user_id!);
  return { path: user.org_unit?.path ?? null, name: user.username };
}

export async function assignApp(deps: AppAccessDeps, context: AdminContext, clientId: string, input: z.output<typeof appAssignmentSchema>): Promise<AppAssignmentRow> {
  return deps.db.transaction().execute(async (trx) => {
    await activeApp(trx, clientId);
    const holder = await holderPath(trx, context, input);
    requirePermission(context.principal, 'apps.assign', holder.path, {
      action: 'app.assign', target: target(clientId), message: localizable(`you can open an app only to units, groups and people inside the part of the org tree you administer (not ${holder.name})`, 'problem.app.assign_outside_scope', { name: holder.name }),
    });
    const declared = new Set(await listAppRoleNames(trx, clientId));
    const unknown = input.roles.filter((role) => !declared.has(role));
    assertThat(unknown.length === 0, () => invalidInput(localizable(`the app declares no role ${unknown.join(', ')}; it declares ${[...declared].join(', ') || 'none'}`, 'problem.app.undeclared_roles', { roles: unknown.join(', '), declared: [...declared].join(', ') || '–' })));
    const id = await insertAppAssignment(trx, {
      client_id: clientId, org_unit_id: input.org_unit_id ?? null, group_id: input.group_id ?? null, user_id: input.user_id ?? null,
      roles: [...new Set(input.roles)].sort(), granted_by: grantedBy(context),
    });
    assertThat(id, () => conflict(localizable(`the app is already assigned to ${holder.name}; remove that assignment to change its roles`, 'problem.app.already_assigned', { name: holder.name })));
    // Naming the person undoes a review's revocation: an admin looked at them and let them back in.
    const readmitted = input.user_id !== undefined && await liftAppAccessExclusion(trx, clientId, input.user_id);
    if (input.roles.length > 0) await refuseSodViolations(trx, { assignmentId: id }, { action: 'app.assign', target: target(clientId), orgUnitId: input.org_unit_id ?? null });
    const [created] = await listAppAssignments(trx, { id });
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'app.assign', target: target(clientId), orgUnitId: input.org_unit_id ?? null,
      after: { assignment_id: id, org_unit_id: created!.org_unit_id, group_id: created!.group_id, user_id: created!.user_id, roles: created!.roles, ...(readmitted ? { readmitted: true } : {}) },
    });
    return created!;
  });
}

export async function unassignApp(deps: AppAccessDeps, context: AdminContext, assignmentId: string): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    const [assignment] = await listAppAssignments(trx, { id: assignmentId });
    assertThat(assignment, () => new AppError('not_found', localizable(`no app assignment with id ${assignmentId}`, 'problem.app.assignment_not_found', { id: assignmentId }), 404));
    requirePermission(context.principal, 'apps.assign', assignment.holder_path, {
      action: 'app.unassign', target: target(assignment.client_id), message: localizable('this assignment reaches outside the part of the org tree you administer', 'problem.app.unassign_outside_scope'),
    });
    await deleteAppAssignment(trx, assignmentId);
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'app.unassign', target: target(assignment.client_id), orgUnitId: assignment.org_unit_id,
      before: { assignment_id: assignment.id, org_unit_id: assignment.org_unit_id, group_id: assignment.group_id, user_id: assignment.user_id, roles: assignment.roles },
    });
  });
}

/** The app's assignments that reach into the admin's scope. */
export async function listAppAssignmentsInScope(deps: AppAccessDeps, context: AdminContext, clientId: string): Promise<AppAssignmentRow[]> {
  await activeApp(deps.db, clientId);
  const scope = scopeOf(context.principal, 'apps.assign');
  requirePermission(context.principal, 'apps.assign', scope.global ? null : scope.subtrees, {
    action: 'app.read', target: target(clientId), message: localizable('reading who may use an app needs the right to assign it', 'problem.app.read_needs_assign'),
  });
  return (await listAppAssignments(deps.db, { clientId })).filter((assignment) => scopeCovers(scope, assignment.holder_path));
}

export async function setAppAccessPolicy(deps: AppAccessDeps, context: AdminContext, clientId: string, policy: AppAccessPolicy): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    await activeApp(trx, clientId);
    requirePermission(context.principal, 'apps.assign', null, {
      action: 'app.policy', target: target(clientId), message: localizable('opening or restricting an app concerns the whole province: it needs a global administrator', 'problem.app.policy_needs_global'),
    });
    const before = await findAppPolicy(trx, clientId);
    if (before === policy) return;
    await setAppPolicy(trx, clientId, policy);
    await recordAuditEvent(trx, { ...auditBase(context), action: 'app.policy', target: target(clientId), before: { access_policy: before }, after: { access_policy: policy } });
  });
}

/**
 * The roles an app declares for itself: its owners from the developer portal, or a global
 * administrator. A pending app may declare them before it goes live.
 */
export async function declareAppRoles(deps: AppAccessDeps, context: AdminContext, clientId: string, input: z.output<typeof appRolesSchema>): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    const client = await appInCare(trx, context, clientId, 'app.roles');
    assertThat(client.status === 'active' || client.status === 'pending', () => new AppError('not_found', localizable(`no active app with client id ${clientId}`, 'problem.client.not_active', { id: clientId }), 404));
    const before = await listAppRoleNames(trx, clientId);
    await replaceAppRoles(trx, clientId, input.roles.map((role) => ({ name: role.name, description: role.description ?? null })));
    await recordAuditEvent(trx, { ...auditBase(context), action: 'app.roles', target: target(clientId), before: { roles: before }, after: { roles: input.roles.map((role) => role.name) } });
  });
}

export const appAccessPolicySchema = z.object({ access_policy: z.enum(appAccessPolicies) });

export const scimAccessSchema = z.object({ scim_access: z.boolean() });

/**
 * Lets an app pull, through SCIM 2.0 (/scim/v2), the people its access policy covers, or stops it.
 * The app then obtains SCIM tokens with its own credentials (client_credentials, scope scim). Who
 * it may see is a province-wide decision like its policy, so only a global administrator makes it.
 * A public client has no credentials to obtain such a token with, so it cannot be allowed.
 */
export async function setScimAccess(deps: AppAccessDeps, context: AdminContext, clientId: string, scimAccess: boolean): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    const client = await activeApp(trx, clientId);
    requirePermission(context.principal, 'apps.assign', null, {
      action: 'app.scim_access', target: target(clientId), message: localizable('letting an app read people through SCIM concerns the whole province: it needs a global administrator', 'problem.app.scim_needs_global'),
    });
    assertThat(!scimAccess || client.client_secret_hash !== null || client.metadata['token_endpoint_auth_method'] === 'private_key_jwt',
      () => conflict(localizable('a public client (spa, native, device) has no credentials to obtain SCIM tokens with; register a service client for the app instead', 'problem.app.scim_public_client')));
    if (client.scim_access === scimAccess) return;
    await setClientScimAccess(trx, clientId, scimAccess);
    await recordAuditEvent(trx, { ...auditBase(context), action: 'app.scim_access', target: target(clientId), before: { scim_access: client.scim_access }, after: { scim_access: scimAccess } });
  });
}
