import type { z } from 'zod';

import { findScimUser, listScimUsers, visibleGroupsOfUsers, type ScimAudience, type ScimListOptions, type ScimUserRow } from '../../db/queries/scim.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { ScimError } from '../../errors.ts';
import { AccessDenied, isPermitted, scopeOf, type AdminContext, type Permission } from '../authorization.ts';
import { changeUserStatus, createUser, newUserSchema, updateUser, userPatchSchema, type UserAdminDeps } from '../users.ts';
import { joinNameParts } from '../vietnamese-names.ts';
import { parseFilter, type Filter } from './filter.ts';
import { applyPatch, canonicalize, readPatchOperations, type Json, type JsonObject } from './patch.ts';
import { resolveSortAttribute, resolveUserFilter, type ResolvedFilter } from './resolved-filter.ts';
import { toScimUser } from './resources.ts';
import { resourceTypes, scimSchemas } from './schemas.ts';

/**
 * SCIM Users over Mekong ID's people. Reads show the people the app's access policy covers (see
 * db/queries/scim.ts); writes go through the same domain functions as the admin API, with the
 * client's own admin roles, so their checks, audit events and transactions are the same. A client
 * holding no role reads and cannot write. Every write is one transaction, and is refused (rolled
 * back) when the person would end up out of the client's sight.
 */

export type ScimDeps = UserAdminDeps;

/** Who calls SCIM: the app's audience (what it sees), its admin context (what it may change), and the base URL of its resources. */
export interface ScimCaller {
  readonly audience: ScimAudience;
  readonly context: AdminContext;
  readonly baseUrl: string;
}

export interface ScimListQuery {
  readonly filter: string | undefined;
  readonly sortBy: string | undefined;
  readonly descending: boolean;
  readonly startIndex: number;
  readonly count: number;
}

export interface VersionedResource {
  readonly resource: JsonObject;
  readonly version: number;
}

export const resourceNotFound = (type: 'User' | 'Group', id: string) => new ScimError(undefined, `no ${type} with id ${id}`, 404);
export const versionChanged = (type: 'User' | 'Group') =>
  new ScimError(undefined, `this ${type} was changed since you read it (If-Match does not match its ETag); read it again and apply your change to that`, 412);

async function represent(db: Kysely<Database>, caller: ScimCaller, rows: readonly ScimUserRow[]): Promise<JsonObject[]> {
  const groups = await visibleGroupsOfUsers(db, caller.audience, rows.map((row) => row.id));
  return rows.map((row) => toScimUser(row, groups.get(row.id) ?? [], caller.baseUrl));
}

/** A list query with its filter parsed and resolved and its sortBy checked, for the resource type's query. */
export function listOptions<A extends string>(query: ScimListQuery, type: 'User' | 'Group', resolveFilter: (filter: Filter) => ResolvedFilter<A>): ScimListOptions<A> {
  return {
    filter: query.filter === undefined ? null : resolveFilter(parseFilter(query.filter)),
    sortBy: query.sortBy === undefined ? null : resolveSortAttribute(query.sortBy, type) as A,
    descending: query.descending,
    startIndex: query.startIndex,
    count: query.count,
  };
}

export async function listScimUsersFor(deps: Pick<ScimDeps, 'db'>, caller: ScimCaller, query: ScimListQuery): Promise<{ total: number; resources: JsonObject[] }> {
  const { total, rows } = await listScimUsers(deps.db, caller.audience, listOptions(query, 'User', resolveUserFilter));
  return { total, resources: await represent(deps.db, caller, rows) };
}

async function readUser(db: Kysely<Database>, caller: ScimCaller, id: string): Promise<VersionedResource & { row: ScimUserRow }> {
  const row = await findScimUser(db, caller.audience, id);
  if (!row) throw resourceNotFound('User', id);
  const [resource] = await represent(db, caller, [row]);
  return { resource: resource!, version: row.version, row };
}

export async function getScimUser(deps: Pick<ScimDeps, 'db'>, caller: ScimCaller, id: string): Promise<VersionedResource> {
  const { resource, version } = await readUser(deps.db, caller, id);
  return { resource, version };
}

/**
 * The unit a new person or group goes into when the request names none: the one subtree the
 * client administers, if it administers exactly one. Otherwise the client must say.
 */
export function defaultUnitId(context: AdminContext, permission: Permission): string | undefined {
  const scope = scopeOf(context.principal, permission);
  if (scope.global || scope.subtrees.length !== 1) return undefined;
  return scope.subtrees[0]!.split('/').filter(Boolean).pop();
}

/** A write that needs a role the client lacks is refused up front: SCIM without admin roles is read-only. */
export function requireWriter(context: AdminContext, permission: Permission, action: string): void {
  if (isPermitted(context.principal, permission)) return;
  throw new AccessDenied(`this app holds no admin role that allows ${permission}: through SCIM it can read, not change`, action);
}

const isObject = (value: Json | undefined): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: Json | undefined) => (typeof value === 'string' && value.trim() !== '' ? value : null);

/** The one value Mekong ID keeps of emails or phoneNumbers; several different ones are refused, not silently cut to one. */
function singleValue(resource: JsonObject, name: 'emails' | 'phoneNumbers'): string | null {
  const items = Array.isArray(resource[name]) ? (resource[name]) : [];
  const values = [...new Set(items.map((item) => (isObject(item) ? text(item['value']) : null)).filter((value): value is string => value !== null))];
  if (values.length > 1 && new Set(values.map((value) => value.toLowerCase())).size > 1) {
    throw new ScimError('invalidValue', `Mekong ID keeps one ${name === 'emails' ? 'email address' : 'phone number'} per person (the work one); ${name} has ${values.length}`);
  }
  return values[0] ?? null;
}

/**
 * The full name from a resource. Vietnamese names are one string, family name first; SCIM splits
 * them. When a PATCH changed name.formatted, that is the name; when it changed only parts, the
 * parts are joined again; displayName counts when nothing else changed.
 */
function fullNameOf(resource: JsonObject, before: JsonObject | null): string | null {
  const name = isObject(resource['name']) ? resource['name'] : {};
  const previous = before && isObject(before['name']) ? before['name'] : {};
  const formatted = text(name['formatted']);
  const parts = { familyName: text(name['familyName']), middleName: text(name['middleName']), givenName: text(name['givenName']) };
  const joined = joinNameParts(parts) || null;
  const displayName = text(resource['displayName']);
  if (before === null) return formatted ?? joined ?? displayName;
  const partsChanged = (['familyName', 'middleName', 'givenName'] as const).some((part) => parts[part] !== text(previous[part]));
  if (formatted !== text(previous['formatted'])) return formatted ?? joined ?? displayName;
  if (partsChanged) return joined ?? formatted;
  if (displayName !== text(before['displayName'])) return displayName ?? formatted;
  return formatted ?? joined ?? displayName;
}

/** SCIM's names for the domain's fields, so that a refusal names what the client sent. */
const scimNames: Record<string, string> = {
  username: 'userName', full_name: 'name.formatted', email: 'emails', phone: 'phoneNumbers', employee_code: `${scimSchemas.enterpriseUser}:employeeNumber`,
  position: 'title', org_unit_id: `${scimSchemas.mekongUser}:orgUnit.value`,
};

/** Input checked by the domain's own schema; a refusal names the SCIM attributes (`names`: domain field to SCIM name). */
export function parseForScim<S extends z.ZodType>(schema: S, value: unknown, names: Readonly<Record<string, string>>): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ScimError('invalidValue', result.error.issues.map((issue) => `${issue.path.map((part) => names[String(part)] ?? String(part)).join('.')}: ${issue.message}`).join('; '));
}

/** The domain's fields from a SCIM User (as a PUT sends it or a PATCH leaves it). Absent optional attributes are null. */
function fieldsOf(resource: JsonObject, before: JsonObject | null) {
  const enterprise = isObject(resource[scimSchemas.enterpriseUser]) ? resource[scimSchemas.enterpriseUser] as JsonObject : {};
  const mekong = isObject(resource[scimSchemas.mekongUser]) ? resource[scimSchemas.mekongUser] as JsonObject : {};
  const unit = isObject(mekong['orgUnit']) ? text(mekong['orgUnit']['value']) : null;
  const active = resource['active'];
  return {
    fields: {
      username: resource['userName'],
      full_name: fullNameOf(resource, before) ?? undefined,
      email: singleValue(resource, 'emails'),
      phone: singleValue(resource, 'phoneNumbers'),
      employee_code: text(enterprise['employeeNumber']),
      position: text(resource['title']),
      ...(unit === null ? {} : { org_unit_id: unit }),
    },
    active: typeof active === 'boolean' ? active : undefined,
  };
}

function requireName(fields: { username: unknown; full_name: string | undefined }): void {
  if (typeof fields.username !== 'string') throw new ScimError('invalidValue', 'userName is required');
  if (fields.full_name === undefined) throw new ScimError('invalidValue', 'a name is required: name.formatted, or name.familyName and name.givenName, or displayName');
}

/**
 * After a write the resource must still be one the client sees; otherwise the write is refused,
 * and the caller's transaction undoes it. A client must not create what it cannot read back.
 */
export async function stillVisible(read: () => Promise<VersionedResource>, what: string): Promise<VersionedResource> {
  try {
    return await read();
  } catch (error) {
    if (!(error instanceof ScimError && error.status === 404)) throw error;
    throw new ScimError('invalidValue', `this app's access policy would not cover ${what} afterwards, so it could not see it; assign the app to the unit first`);
  }
}

export async function createScimUser(deps: ScimDeps, caller: ScimCaller, body: unknown): Promise<VersionedResource> {
  requireWriter(caller.context, 'users.write', 'user.create');
  const resource = canonicalize(body, resourceTypes.User);
  const { fields } = fieldsOf(resource, null);
  requireName(fields);
  const orgUnitId = fields.org_unit_id ?? defaultUnitId(caller.context, 'users.write');
  if (orgUnitId === undefined) throw new ScimError('invalidValue', `say which unit the person works in: ${scimSchemas.mekongUser}:orgUnit.value`);
  // A new person starts pending activation, whatever `active` says: they set their password through the activation link.
  const input = parseForScim(newUserSchema, { ...fields, org_unit_id: orgUnitId }, scimNames);
  return deps.db.transaction().execute(async (trx) => {
    const created = await createUser({ ...deps, db: trx }, caller.context, input);
    return stillVisible(() => getScimUser({ db: trx }, caller, created.id), 'the person');
  });
}

/** PUT and PATCH alike: the desired resource is compared with the person as stored, and what differs is written. */
async function writeUser(deps: ScimDeps, caller: ScimCaller, id: string, expectedVersion: number | undefined, desire: (current: JsonObject) => { resource: JsonObject; before: JsonObject | null }): Promise<VersionedResource> {
  return deps.db.transaction().execute(async (trx) => {
    const current = await readUser(trx, caller, id);
    if (expectedVersion !== undefined && expectedVersion !== current.version) throw versionChanged('User');
    const { resource, before } = desire(current.resource);
    const { fields, active } = fieldsOf(resource, before);
    requireName(fields);
    const patch = parseForScim(userPatchSchema, fields, scimNames);
    const row = current.row;
    const changed = (Object.keys(patch) as (keyof typeof patch)[]).some((field) =>
      field === 'org_unit_id' ? patch.org_unit_id !== row.primary_org_unit_id : field !== 'concurrent_unit_ids' && patch[field] !== row[field]);
    const scoped = { ...deps, db: trx };
    if (changed) await updateUser(scoped, caller.context, id, undefined, patch);
    if (active !== undefined && active !== (row.status === 'active')) {
      await changeUserStatus(scoped, caller.context, id, undefined, active ? 'active' : 'suspended');
    }
    return stillVisible(() => getScimUser({ db: trx }, caller, id), 'the person');
  });
}

export function replaceScimUser(deps: ScimDeps, caller: ScimCaller, id: string, expectedVersion: number | undefined, body: unknown): Promise<VersionedResource> {
  const resource = canonicalize(body, resourceTypes.User);
  return writeUser(deps, caller, id, expectedVersion, () => ({ resource, before: null }));
}

export function patchScimUser(deps: ScimDeps, caller: ScimCaller, id: string, expectedVersion: number | undefined, body: unknown): Promise<VersionedResource> {
  const operations = readPatchOperations(body);
  return writeUser(deps, caller, id, expectedVersion, (current) => ({ resource: applyPatch(current, resourceTypes.User, operations), before: current }));
}

/**
 * DELETE disables the person rather than erasing them: a leaver's account, history and audit trail
 * stay, every session and token ends, and apps hear of it by back-channel logout. For SCIM the
 * person is then gone (404), as RFC 7644 §3.6 asks of a deleted resource; an administrator can
 * enable them again, and they reappear.
 */
export async function deleteScimUser(deps: ScimDeps, caller: ScimCaller, id: string, expectedVersion: number | undefined): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    const current = await readUser(trx, caller, id);
    if (expectedVersion !== undefined && expectedVersion !== current.version) throw versionChanged('User');
    await changeUserStatus({ ...deps, db: trx }, caller.context, id, undefined, 'disabled');
  });
}
