import type { Kysely } from 'kysely';
import { z } from 'zod';

import { isUniqueViolation } from '../db/errors.ts';
import {
  countOpenChildren,
  countPeopleInSubtree,
  deleteOrgUnit,
  findOrgUnitById,
  hasChildren,
  insertOrgUnit,
  isOrgUnitReferenced,
  listOrgUnits,
  lockOrgTree,
  lockOrgUnit,
  moveOrgUnitSubtree,
  updateOrgUnitFields,
  type OrgUnitWithCounts,
} from '../db/queries/org-units.ts';
import { orgUnitKinds, type Database, type OrgUnit, type OrgUnitKind, type OrgUnitStatus } from '../db/schema.ts';
import { AppError, assertThat, conflict, localizable } from '../errors.ts';
import { recordAuditEvent } from './audit.ts';
import { requirePermission, scopeOf, subtreeFilter, type AdminContext } from './authorization.ts';
import { idSchema, normalizeName, orgUnitCodeSchema } from './person-fields.ts';

export interface OrgUnitDeps {
  readonly db: Kysely<Database>;
}

export const orgUnitNotFound = (id: string) => new AppError('not_found', localizable(`no org unit with id ${id}`, 'problem.org_unit.not_found', { id }), 404);
const changedMeanwhile = {
  'this user': 'problem.changed_meanwhile.user',
  'this group': 'problem.changed_meanwhile.group',
  'this org unit': 'problem.changed_meanwhile.org_unit',
  'this plan': 'problem.changed_meanwhile.plan',
} as const;
export const versionMismatch = (what: keyof typeof changedMeanwhile) =>
  new AppError('precondition_failed', localizable(`${what} was changed by someone else since you read it; reload it and apply your change again`, changedMeanwhile[what]), 412);

const orgUnitNameSchema = z.string().transform(normalizeName)
  .pipe(z.string().min(1, 'a unit needs a name').max(300, 'a unit name has at most 300 characters'));

export const newOrgUnitSchema = z.object({
  code: orgUnitCodeSchema,
  name: orgUnitNameSchema,
  kind: z.enum(orgUnitKinds),
  parent_id: idSchema.nullable(),
});

export const orgUnitPatchSchema = z.object({
  code: orgUnitCodeSchema.optional(),
  name: orgUnitNameSchema.optional(),
  kind: z.enum(orgUnitKinds).optional(),
  parent_id: idSchema.optional(),
  status: z.enum(['active', 'closed']).optional(),
  /** Everyone in the unit's subtree must sign in with a second factor. */
  mfa_required: z.boolean().optional(),
});

const auditView = (unit: OrgUnit) => ({ code: unit.code, name: unit.name, kind: unit.kind, parent_id: unit.parent_id, status: unit.status, mfa_required: unit.mfa_required });
const target = (id: string) => ({ type: 'org_unit', id });

async function loadUnit(db: Kysely<Database>, id: string): Promise<OrgUnit> {
  const unit = await findOrgUnitById(db, id);
  assertThat(unit, orgUnitNotFound(id));
  return unit;
}

export async function getOrgUnit(deps: OrgUnitDeps, context: AdminContext, id: string): Promise<OrgUnit> {
  const unit = await loadUnit(deps.db, id);
  requirePermission(context.principal, 'org_units.read', unit.path, {
    action: 'org_unit.read', target: target(id), orgUnitId: id, message: localizable('this org unit is outside the part of the org tree you administer', 'problem.org_unit.outside_scope'),
  });
  return unit;
}

export async function listOrgUnitsInScope(
  deps: OrgUnitDeps,
  context: AdminContext,
  filter: { parentId?: string | undefined; withinId?: string | undefined; status?: OrgUnitStatus | undefined; kind?: OrgUnitKind | undefined; q?: string | undefined; afterPath?: string | undefined; limit: number },
): Promise<OrgUnitWithCounts[]> {
  const within = filter.withinId === undefined ? undefined : (await loadUnit(deps.db, filter.withinId)).path;
  return listOrgUnits(deps.db, {
    subtrees: subtreeFilter(scopeOf(context.principal, 'org_units.read')),
    parentId: filter.parentId,
    within,
    status: filter.status,
    kind: filter.kind,
    q: filter.q,
    afterPath: filter.afterPath,
    limit: filter.limit,
  });
}

export async function createOrgUnit(deps: OrgUnitDeps, context: AdminContext, input: z.output<typeof newOrgUnitSchema>): Promise<OrgUnit> {
  return deps.db.transaction().execute(async (trx) => {
    await lockOrgTree(trx);
    const parent = input.parent_id === null ? null : await loadUnit(trx, input.parent_id);
    requirePermission(context.principal, 'org_units.write', parent?.path ?? null, {
      action: 'org_unit.create',
      message: parent
        ? localizable('you can create units only inside the part of the org tree you administer', 'problem.org_unit.create_outside_scope')
        : localizable('only a global administrator can create a top-level unit', 'problem.org_unit.create_top_level'),
    });
    assertThat(!parent || parent.status === 'active', conflict(localizable(`the parent unit ${parent?.code ?? ''} is closed`, 'problem.org_unit.parent_closed', { code: parent?.code ?? '' })));
    const unit = await withUniqueCode(input.code, () => insertOrgUnit(trx, { code: input.code, name: input.name, kind: input.kind, parent }));
    await recordAuditEvent(trx, { ...auditBase(context), action: 'org_unit.create', target: target(unit.id), orgUnitId: unit.id, after: auditView(unit) });
    return unit;
  });
}

/**
 * Renames, recodes, moves, closes or reopens a unit. A unit is changed by whoever administers the
 * unit above it: the admin of a district manages the units in the district, not the district
 * itself, so no one can move or close the root of their own scope.
 */
export async function updateOrgUnit(
  deps: OrgUnitDeps,
  context: AdminContext,
  id: string,
  expectedVersion: number | undefined,
  patch: z.output<typeof orgUnitPatchSchema>,
): Promise<OrgUnit> {
  return deps.db.transaction().execute(async (trx) => {
    await lockOrgTree(trx);
    await lockOrgUnit(trx, id);
    const unit = await loadUnit(trx, id);
    const parentPath = unit.parent_id === null ? null : unit.path.slice(0, unit.path.length - unit.id.length - 1);
    requirePermission(context.principal, 'org_units.write', parentPath, {
      action: 'org_unit.update', target: target(id), orgUnitId: id, message: localizable('you can change only units below the root of the part of the org tree you administer', 'problem.org_unit.change_root'),
    });
    assertThat(expectedVersion === undefined || expectedVersion === unit.version, versionMismatch('this org unit'));

    let current = unit;
    if (patch.parent_id !== undefined && patch.parent_id !== unit.parent_id) {
      const newParent = await loadUnit(trx, patch.parent_id);
      requirePermission(context.principal, 'org_units.write', newParent.path, {
        action: 'org_unit.move', target: target(id), message: localizable('you can move a unit only to a place inside the part of the org tree you administer', 'problem.org_unit.move_outside_scope'),
      });
      assertThat(!newParent.path.startsWith(unit.path), new AppError('invalid_move', localizable('a unit cannot be moved under itself or one of its own units', 'problem.org_unit.move_under_itself')));
      assertThat(newParent.status === 'active', conflict(localizable(`the new parent unit ${newParent.code} is closed`, 'problem.org_unit.parent_closed', { code: newParent.code })));
      const moved = await moveOrgUnitSubtree(trx, current, newParent);
      assertThat(moved, versionMismatch('this org unit'));
      current = moved;
    }

    const fields: Parameters<typeof updateOrgUnitFields>[3] = {};
    if (patch.code !== undefined && patch.code !== current.code) fields.code = patch.code;
    if (patch.name !== undefined && patch.name !== current.name) fields.name = patch.name;
    if (patch.kind !== undefined && patch.kind !== current.kind) fields.kind = patch.kind;
    if (patch.mfa_required !== undefined && patch.mfa_required !== current.mfa_required) fields.mfa_required = patch.mfa_required;
    if (patch.status !== undefined && patch.status !== current.status) {
      if (patch.status === 'closed') await assertClosable(trx, current);
      else await assertParentOpen(trx, current);
      fields.status = patch.status;
      fields.closed_at = patch.status === 'closed' ? new Date() : null;
    }
    if (Object.keys(fields).length > 0) {
      const updated = await withUniqueCode(fields.code ?? current.code, () => updateOrgUnitFields(trx, id, current.version, fields));
      assertThat(updated, versionMismatch('this org unit'));
      current = updated;
    }
    if (current !== unit) {
      const action = patch.status === 'closed' && unit.status !== 'closed' ? 'org_unit.close' : patch.parent_id !== undefined && unit.parent_id !== current.parent_id ? 'org_unit.move' : 'org_unit.update';
      await recordAuditEvent(trx, { ...auditBase(context), action, target: target(id), orgUnitId: id, before: auditView(unit), after: auditView(current) });
    }
    return current;
  });
}

async function assertClosable(db: Kysely<Database>, unit: OrgUnit): Promise<void> {
  const children = await countOpenChildren(db, unit.id);
  assertThat(children === 0, conflict(localizable(`${unit.code} still has ${children} open unit(s) below it: close or move them first`, 'problem.org_unit.open_children', { code: unit.code, count: String(children) })));
  const people = await countPeopleInSubtree(db, unit.path);
  assertThat(people === 0, conflict(localizable(`${unit.code} still has ${people} person(s) who are not disabled: move them to another unit first`, 'problem.org_unit.has_people', { code: unit.code, count: String(people) })));
}

async function assertParentOpen(db: Kysely<Database>, unit: OrgUnit): Promise<void> {
  if (unit.parent_id === null) return;
  const parent = await loadUnit(db, unit.parent_id);
  assertThat(parent.status === 'active', conflict(localizable(`${unit.code} cannot reopen while the unit above it, ${parent.code}, is closed`, 'problem.org_unit.reopen_under_closed', { code: unit.code, parent: parent.code })));
}

/**
 * Only a unit that nothing ever referred to can be deleted (a mistake made a minute ago); the rest
 * are closed. "Ever": a unit that once had people is named by their audit events, which a scoped
 * auditor finds through the unit, so it must stay.
 */
export async function removeOrgUnit(deps: OrgUnitDeps, context: AdminContext, id: string): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    await lockOrgTree(trx);
    const unit = await loadUnit(trx, id);
    const parentPath = unit.parent_id === null ? null : unit.path.slice(0, unit.path.length - unit.id.length - 1);
    requirePermission(context.principal, 'org_units.write', parentPath, {
      action: 'org_unit.delete', target: target(id), orgUnitId: id, message: localizable('you can delete only units below the root of the part of the org tree you administer', 'problem.org_unit.delete_root'),
    });
    assertThat(!(await hasChildren(trx, id)), conflict(localizable(`${unit.code} has units below it; a unit with units or people can only be closed`, 'problem.org_unit.delete_has_children', { code: unit.code })));
    assertThat(!(await isOrgUnitReferenced(trx, id)), conflict(localizable(`${unit.code} has, or had, people, groups or roles; it can only be closed`, 'problem.org_unit.delete_referenced', { code: unit.code })));
    await deleteOrgUnit(trx, id);
    await recordAuditEvent(trx, { ...auditBase(context), action: 'org_unit.delete', target: target(id), orgUnitId: unit.parent_id, before: auditView(unit) });
  });
}

async function withUniqueCode<T>(code: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(localizable(`another unit already has the code ${code}`, 'problem.org_unit.code_taken', { code }));
    throw error;
  }
}

export function auditBase(context: AdminContext) {
  return { actor: context.principal.actor, origin: context.origin };
}
