import { z } from 'zod';

import type { AuditEvent, Group, OrgUnit, RoleAssignment } from '../../db/schema.ts';
import { adminRoles, orgUnitKinds, userStatuses } from '../../db/schema.ts';
import type { UnitRef, UserDetail, UserListRow } from '../../db/queries/users.ts';
import { maskNationalId } from '../../domain/person-fields.ts';

/** What the admin API answers, one schema per resource; the handlers map rows to these. */

const timestamp = z.iso.datetime({ offset: true });
const iso = (value: Date) => value.toISOString();
const isoOrNull = (value: Date | null) => (value ? value.toISOString() : null);

export const errorBody = z.object({
  error: z.string().describe('a stable code: invalid_input, unauthorized, forbidden, not_found, conflict, precondition_failed, …'),
  message: z.string().describe('what was wrong, for a person to read'),
  request_id: z.string(),
});

const unitRef = z.object({ id: z.uuid(), code: z.string(), name: z.string() });
const toUnitRef = (unit: UnitRef) => ({ id: unit.id, code: unit.code, name: unit.name });

export const userStatus = z.enum(userStatuses);

export const userSummary = z.object({
  id: z.uuid(),
  username: z.string(),
  full_name: z.string(),
  email: z.string().nullable(),
  phone: z.string().nullable().describe('E.164'),
  employee_code: z.string().nullable(),
  national_id: z.string().nullable().describe('masked in lists: only the last three digits show'),
  position: z.string().nullable(),
  org_unit: unitRef.nullable(),
  status: userStatus,
  last_login_at: timestamp.nullable(),
  version: z.number().int(),
});

export const userDetail = userSummary.extend({
  national_id: z.string().nullable().describe('in full, to those who may change the person'),
  concurrent_units: z.array(unitRef),
  groups: z.array(z.object({ id: z.uuid(), name: z.string(), org_unit_id: z.uuid() })),
  created_at: timestamp,
  updated_at: timestamp,
});

export function toUserSummary(row: UserListRow) {
  return {
    id: row.id,
    username: row.username,
    full_name: row.full_name,
    email: row.email,
    phone: row.phone,
    employee_code: row.employee_code,
    national_id: row.national_id === null ? null : maskNationalId(row.national_id),
    position: row.position,
    org_unit: row.primary_org_unit_id && row.org_unit_code !== null && row.org_unit_name !== null
      ? { id: row.primary_org_unit_id, code: row.org_unit_code, name: row.org_unit_name } : null,
    status: row.status,
    last_login_at: isoOrNull(row.last_login_at),
    version: row.version,
  };
}

export function toUserDetail(user: UserDetail, options: { showNationalId: boolean }) {
  return {
    id: user.id,
    username: user.username,
    full_name: user.full_name,
    email: user.email,
    phone: user.phone,
    employee_code: user.employee_code,
    national_id: user.national_id === null ? null : options.showNationalId ? user.national_id : maskNationalId(user.national_id),
    position: user.position,
    org_unit: user.org_unit ? toUnitRef(user.org_unit) : null,
    concurrent_units: user.concurrent_units.map(toUnitRef),
    groups: user.groups,
    status: user.status,
    last_login_at: isoOrNull(user.last_login_at),
    created_at: iso(user.created_at),
    updated_at: iso(user.updated_at),
    version: user.version,
  };
}

export const orgUnit = z.object({
  id: z.uuid(),
  code: z.string(),
  name: z.string(),
  kind: z.enum(orgUnitKinds),
  parent_id: z.uuid().nullable(),
  depth: z.number().int().describe('0 for a top-level unit'),
  status: z.enum(['active', 'closed']),
  mfa_required: z.boolean().describe('everyone in this subtree must sign in with a second factor (inherited: a unit below a requiring one requires it too)'),
  member_count: z.number().int().optional().describe('people whose primary unit this is (in lists)'),
  created_at: timestamp,
  updated_at: timestamp,
  closed_at: timestamp.nullable(),
  version: z.number().int(),
});

export function toOrgUnit(unit: OrgUnit & { member_count?: number }) {
  return {
    id: unit.id,
    code: unit.code,
    name: unit.name,
    kind: unit.kind,
    parent_id: unit.parent_id,
    depth: unit.depth,
    status: unit.status,
    mfa_required: unit.mfa_required,
    ...(unit.member_count === undefined ? {} : { member_count: unit.member_count }),
    created_at: iso(unit.created_at),
    updated_at: iso(unit.updated_at),
    closed_at: isoOrNull(unit.closed_at),
    version: unit.version,
  };
}

export const group = z.object({
  id: z.uuid(),
  org_unit_id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  member_count: z.number().int(),
  created_at: timestamp,
  updated_at: timestamp,
  version: z.number().int(),
});

export function toGroup(row: Group & { member_count: number }) {
  return {
    id: row.id,
    org_unit_id: row.org_unit_id,
    name: row.name,
    description: row.description,
    member_count: row.member_count,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    version: row.version,
  };
}

export const roleAssignment = z.object({
  id: z.uuid(),
  user_id: z.uuid().nullable(),
  client_id: z.string().nullable(),
  role: z.enum(adminRoles),
  org_unit_id: z.uuid().nullable().describe('null: the role is global'),
  granted_by: z.string().nullable(),
  created_at: timestamp,
});

export function toRoleAssignment(row: RoleAssignment) {
  return {
    id: row.id,
    user_id: row.user_id,
    client_id: row.client_id,
    role: row.role,
    org_unit_id: row.org_unit_id,
    granted_by: row.granted_by,
    created_at: iso(row.created_at),
  };
}

export const auditEvent = z.object({
  id: z.string().describe('sequence number in the hash chain'),
  occurred_at: timestamp,
  actor: z.object({ type: z.enum(['user', 'client', 'system', 'anonymous']), id: z.string().nullable(), name: z.string().nullable() }),
  action: z.string(),
  outcome: z.enum(['success', 'failure', 'denied']),
  target: z.object({ type: z.string(), id: z.string() }).nullable(),
  org_unit_id: z.uuid().nullable(),
  before: z.record(z.string(), z.unknown()).nullable(),
  after: z.record(z.string(), z.unknown()).nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  request_id: z.string().nullable(),
  hash: z.string(),
});

export function toAuditEvent(row: AuditEvent) {
  return {
    id: row.id,
    occurred_at: iso(row.occurred_at),
    actor: { type: row.actor_type, id: row.actor_id, name: row.actor_name },
    action: row.action,
    outcome: row.outcome,
    target: row.target_type !== null && row.target_id !== null ? { type: row.target_type, id: row.target_id } : null,
    org_unit_id: row.org_unit_id,
    before: row.before,
    after: row.after,
    details: row.details,
    ip: row.ip,
    user_agent: row.user_agent,
    request_id: row.request_id,
    hash: row.hash,
  };
}
