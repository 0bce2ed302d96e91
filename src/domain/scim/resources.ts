import type { ScimGroupRow, ScimUserRow } from '../../db/queries/scim.ts';
import { ScimError } from '../../errors.ts';
import { splitFullName } from '../vietnamese-names.ts';
import { parseAttributePath } from './filter.ts';
import type { Json, JsonObject } from './patch.ts';
import { findAttribute, scimSchemas, type ResourceTypeDefinition } from './schemas.ts';

/**
 * Mekong ID's people and groups as SCIM resources (RFC 7643 §4), and the attributes/excludedAttributes
 * projection (RFC 7644 §3.4.2.5). Attributes without a value are left out, which SCIM reads as null.
 */

/** Weak: the version counts changes to the row, not bytes of this representation. */
export const weakEtag = (version: number) => `W/"${version}"`;

const withoutNulls = (object: Record<string, Json | undefined>): JsonObject =>
  Object.fromEntries(Object.entries(object).filter((entry): entry is [string, Json] => entry[1] !== null && entry[1] !== undefined));

export function toScimUser(row: ScimUserRow, groups: readonly { id: string; name: string }[], baseUrl: string): JsonObject {
  const parts = splitFullName(row.full_name);
  const enterprise = withoutNulls({ employeeNumber: row.employee_code, organization: row.organization, department: row.unit_name });
  return withoutNulls({
    schemas: [scimSchemas.user, scimSchemas.enterpriseUser, scimSchemas.mekongUser],
    id: row.id,
    userName: row.username,
    name: withoutNulls({ formatted: row.full_name, familyName: parts.familyName, middleName: parts.middleName, givenName: parts.givenName }),
    displayName: row.full_name,
    title: row.position,
    active: row.status === 'active',
    emails: row.email === null ? null : [{ value: row.email, type: 'work', primary: true }],
    phoneNumbers: row.phone === null ? null : [{ value: row.phone, type: 'work', primary: true }],
    groups: groups.map((group) => ({ value: group.id, $ref: `${baseUrl}/Groups/${group.id}`, display: group.name })),
    [scimSchemas.enterpriseUser]: Object.keys(enterprise).length > 0 ? enterprise : null,
    [scimSchemas.mekongUser]: row.primary_org_unit_id === null ? null
      : { orgUnit: withoutNulls({ value: row.primary_org_unit_id, code: row.unit_code, display: row.unit_name }) },
    meta: {
      resourceType: 'User',
      created: row.created_at.toISOString(),
      lastModified: row.updated_at.toISOString(),
      location: `${baseUrl}/Users/${row.id}`,
      version: weakEtag(row.version),
    },
  });
}

export function toScimGroup(row: ScimGroupRow, members: readonly { id: string; full_name: string }[], baseUrl: string): JsonObject {
  return {
    schemas: [scimSchemas.group, scimSchemas.mekongGroup],
    id: row.id,
    displayName: row.name,
    members: members.map((member) => ({ value: member.id, $ref: `${baseUrl}/Users/${member.id}`, display: member.full_name, type: 'User' })),
    [scimSchemas.mekongGroup]: { orgUnit: { value: row.org_unit_id, code: row.unit_code, display: row.unit_name } },
    meta: {
      resourceType: 'Group',
      created: row.created_at.toISOString(),
      lastModified: row.updated_at.toISOString(),
      location: `${baseUrl}/Groups/${row.id}`,
      version: weakEtag(row.version),
    },
  };
}

/** Which attributes to return: the `attributes` and `excludedAttributes` parameters, as comma-separated paths. */
export interface Projection {
  readonly attributes: readonly string[];
  readonly excludedAttributes: readonly string[];
}

export function readProjection(attributes: string | undefined, excludedAttributes: string | undefined): Projection {
  const list = (value: string | undefined) => (value ?? '').split(',').map((item) => item.trim()).filter(Boolean);
  const projection = { attributes: list(attributes), excludedAttributes: list(excludedAttributes) };
  for (const path of [...projection.attributes, ...projection.excludedAttributes]) {
    try {
      parseAttributePath(path);
    } catch {
      throw new ScimError('invalidValue', `"${path}" in attributes or excludedAttributes is not an attribute path`);
    }
  }
  return projection;
}

/**
 * The resource with only the attributes asked for, or without those excluded. `id` and `schemas`
 * are always returned (RFC 7643 §7 "returned: always"). Names the schemas do not know are ignored.
 */
export function project(resource: JsonObject, type: ResourceTypeDefinition, projection: Projection): JsonObject {
  if (projection.attributes.length === 0 && projection.excludedAttributes.length === 0) return resource;
  const locate = (text: string) => {
    const path = parseAttributePath(text);
    const found = findAttribute(type, path);
    if (!found) return null;
    const holder = found.schema.id === type.schema.id ? null : found.schema.id;
    return { holder, name: found.definition.name, sub: found.sub?.name ?? null };
  };
  const containerIn = (object: JsonObject, holder: string | null, create: boolean): JsonObject | null => {
    if (holder === null) return object;
    const existing = object[holder];
    if (existing && typeof existing === 'object' && !Array.isArray(existing)) return existing;
    if (!create) return null;
    const made: JsonObject = {};
    object[holder] = made;
    return made;
  };

  if (projection.attributes.length > 0) {
    const result: JsonObject = { schemas: resource['schemas'] ?? [], id: resource['id'] ?? null };
    for (const text of projection.attributes) {
      const target = locate(text);
      const source = target && containerIn(resource, target.holder, false);
      const value = target && source ? source[target.name] : undefined;
      if (!target || value === undefined) continue;
      const into = containerIn(result, target.holder, true)!;
      if (target.sub === null) {
        into[target.name] = structuredClone(value);
      } else if (Array.isArray(value)) {
        into[target.name] = value.map((element) => pick(element, target.sub!));
      } else {
        into[target.name] = { ...(into[target.name] as JsonObject | undefined), ...pick(value, target.sub) };
      }
    }
    return result;
  }

  const result = structuredClone(resource);
  for (const text of projection.excludedAttributes) {
    const target = locate(text);
    if (!target || target.name === 'id') continue;
    const container = containerIn(result, target.holder, false);
    if (!container) continue;
    const value = container[target.name];
    if (target.sub === null) {
      Reflect.deleteProperty(container, target.name);
    } else if (Array.isArray(value)) {
      for (const element of value) if (element && typeof element === 'object' && !Array.isArray(element)) Reflect.deleteProperty(element, target.sub);
    } else if (value && typeof value === 'object') {
      Reflect.deleteProperty(value, target.sub);
    }
  }
  return result;
}

function pick(value: Json, sub: string): JsonObject {
  if (!value || typeof value !== 'object' || Array.isArray(value) || value[sub] === undefined) return {};
  return { [sub]: value[sub] };
}
