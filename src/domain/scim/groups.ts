import type { Kysely } from 'kysely';

import { findScimGroup, findScimUser, listScimGroups, visibleMembersOfGroups, type ScimGroupRow } from '../../db/queries/scim.ts';
import type { Database } from '../../db/schema.ts';
import { ScimError } from '../../errors.ts';
import { changeGroupMembership, createGroup, groupPatchSchema, newGroupSchema, removeGroup, updateGroup, type GroupDeps } from '../groups.ts';
import { applyPatch, canonicalize, readPatchOperations, type Json, type JsonObject } from './patch.ts';
import { resolveGroupFilter } from './resolved-filter.ts';
import { toScimGroup } from './resources.ts';
import { resourceTypes, scimSchemas } from './schemas.ts';
import { defaultUnitId, listOptions, parseForScim, requireWriter, resourceNotFound, stillVisible, versionChanged, type ScimCaller, type ScimListQuery, type VersionedResource } from './users.ts';

/**
 * SCIM Groups over Mekong ID's groups. A client sees the members it may see, and only those: a
 * PUT or PATCH that leaves out a member it cannot see leaves that member alone, so a restricted
 * app never removes people it does not know of. Membership changes go through the same domain
 * function as the admin API's, one audit event each, all in one transaction.
 */

async function represent(db: Kysely<Database>, caller: ScimCaller, rows: readonly ScimGroupRow[]): Promise<JsonObject[]> {
  const members = await visibleMembersOfGroups(db, caller.audience, rows.map((row) => row.id));
  return rows.map((row) => toScimGroup(row, members.get(row.id) ?? [], caller.baseUrl));
}

export async function listScimGroupsFor(deps: GroupDeps, caller: ScimCaller, query: ScimListQuery): Promise<{ total: number; resources: JsonObject[] }> {
  const { total, rows } = await listScimGroups(deps.db, caller.audience, listOptions(query, 'Group', resolveGroupFilter));
  return { total, resources: await represent(deps.db, caller, rows) };
}

export async function getScimGroup(deps: GroupDeps, caller: ScimCaller, id: string): Promise<VersionedResource> {
  const row = await findScimGroup(deps.db, caller.audience, id);
  if (!row) throw resourceNotFound('Group', id);
  const [resource] = await represent(deps.db, caller, [row]);
  return { resource: resource!, version: row.version };
}

const isObject = (value: Json | undefined): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The member ids a resource lists. */
function memberIdsOf(resource: JsonObject): string[] {
  const members = Array.isArray(resource['members']) ? resource['members'] : [];
  const ids = new Set<string>();
  for (const member of members) {
    const value = isObject(member) ? member['value'] : undefined;
    if (typeof value !== 'string') throw new ScimError('invalidValue', 'each of members has a value: the person\'s id');
    ids.add(value.toLowerCase());
  }
  return [...ids];
}

/** Adds people to a group; each must be someone the client sees (the domain then checks its right to). */
async function addMembers(db: Kysely<Database>, caller: ScimCaller, groupId: string, userIds: readonly string[]): Promise<void> {
  for (const userId of userIds) {
    if (!(await findScimUser(db, caller.audience, userId))) throw new ScimError('invalidValue', `members: there is no User with id ${userId} that this app can see`);
    await changeGroupMembership({ db }, caller.context, groupId, userId, 'add');
  }
}

function unitOf(resource: JsonObject): string | null {
  const extension = resource[scimSchemas.mekongGroup];
  const unit = isObject(extension) && isObject(extension['orgUnit']) ? extension['orgUnit']['value'] : null;
  return typeof unit === 'string' ? unit : null;
}

function nameOf(resource: JsonObject): string {
  const name = resource['displayName'];
  if (typeof name !== 'string') throw new ScimError('invalidValue', 'displayName is required');
  return name;
}

const scimNames = { name: 'displayName', org_unit_id: `${scimSchemas.mekongGroup}:orgUnit.value` };

export async function createScimGroup(deps: GroupDeps, caller: ScimCaller, body: unknown): Promise<VersionedResource> {
  requireWriter(caller.context, 'groups.write', 'group.create');
  const resource = canonicalize(body, resourceTypes.Group);
  const orgUnitId = unitOf(resource) ?? defaultUnitId(caller.context, 'groups.write');
  if (orgUnitId === undefined) throw new ScimError('invalidValue', `say which unit keeps the group: ${scimSchemas.mekongGroup}:orgUnit.value`);
  const input = parseForScim(newGroupSchema, { org_unit_id: orgUnitId, name: nameOf(resource) }, scimNames);
  return deps.db.transaction().execute(async (trx) => {
    const created = await createGroup({ db: trx }, caller.context, input);
    await addMembers(trx, caller, created.id, memberIdsOf(resource));
    return stillVisible(() => getScimGroup({ db: trx }, caller, created.id), 'the group');
  });
}

async function writeGroup(deps: GroupDeps, caller: ScimCaller, id: string, expectedVersion: number | undefined, desire: (current: JsonObject) => JsonObject): Promise<VersionedResource> {
  return deps.db.transaction().execute(async (trx) => {
    const current = await getScimGroup({ db: trx }, caller, id);
    if (expectedVersion !== undefined && expectedVersion !== current.version) throw versionChanged('Group');
    const resource = desire(current.resource);
    const unit = unitOf(resource);
    if (unit !== null && unit.toLowerCase() !== unitOf(current.resource)) throw new ScimError('mutability', 'a group stays in the unit that keeps it: orgUnit cannot change');
    const name = nameOf(resource);
    const patch = parseForScim(groupPatchSchema, { name }, scimNames);
    if (patch.name !== undefined && patch.name !== current.resource['displayName']) await updateGroup({ db: trx }, caller.context, id, undefined, patch);
    // Only the members the client sees are in `current`: those it cannot see are never removed.
    const wanted = memberIdsOf(resource);
    const present = new Set(memberIdsOf(current.resource));
    await addMembers(trx, caller, id, wanted.filter((candidate) => !present.has(candidate)));
    for (const userId of present) if (!wanted.includes(userId)) await changeGroupMembership({ db: trx }, caller.context, id, userId, 'remove');
    return stillVisible(() => getScimGroup({ db: trx }, caller, id), 'the group');
  });
}

export function replaceScimGroup(deps: GroupDeps, caller: ScimCaller, id: string, expectedVersion: number | undefined, body: unknown): Promise<VersionedResource> {
  const resource = canonicalize(body, resourceTypes.Group);
  // PUT replaces what the client may write; a group's unit, when left out, stays.
  return writeGroup(deps, caller, id, expectedVersion, () => resource);
}

export function patchScimGroup(deps: GroupDeps, caller: ScimCaller, id: string, expectedVersion: number | undefined, body: unknown): Promise<VersionedResource> {
  const operations = readPatchOperations(body);
  return writeGroup(deps, caller, id, expectedVersion, (current) => applyPatch(current, resourceTypes.Group, operations));
}

/** Groups are only collections of people, and the domain deletes them outright; so does SCIM. */
export async function deleteScimGroup(deps: GroupDeps, caller: ScimCaller, id: string, expectedVersion: number | undefined): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    const current = await getScimGroup({ db: trx }, caller, id);
    if (expectedVersion !== undefined && expectedVersion !== current.version) throw versionChanged('Group');
    await removeGroup({ db: trx }, caller.context, id);
  });
}
