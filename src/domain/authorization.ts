import type { RoleHolder, ScopedAssignment } from '../db/queries/role-assignments.ts';
import type { AdminRole } from '../db/schema.ts';
import { AppError, type LocalizableMessage } from '../errors.ts';
import type { Actor, RequestOrigin } from './audit.ts';

/**
 * Delegated administration. Every admin right is a role held over a scope: the whole province
 * (a global assignment) or one unit's subtree. A right over a subtree covers every unit whose path
 * starts with the subtree's path. This module decides; it never reads the database, so the rules
 * can be read, and tested, in one place.
 */

export const permissions = [
  'users.read',
  'users.write',
  /** Suspend, disable, enable: the steps that end or restore someone's access. */
  'users.lifecycle',
  /** Send or resend an activation link. */
  'users.activation',
  /** Lift a lock that failed sign-ins put on someone's login names. */
  'users.unlock',
  /** Remove someone's second factors and recovery codes (a lost phone); they are told by mail. */
  'users.reset_factors',
  'org_units.read',
  'org_units.write',
  /**
   * Plan and schedule reorganizations (merge, split, abolish a level): they move rights across
   * units and change what apps are told, for the whole province, so only a global super_admin holds it.
   */
  'org_units.reorganize',
  'groups.read',
  'groups.write',
  'roles.read',
  'roles.write',
  'audit.read',
  'clients.register',
  /** Open an app to a subtree, a group or a person, with its roles; over the whole province, set who may use it at all. */
  'apps.assign',
  /**
   * Which app may exchange people's tokens for tokens to which other app's API (RFC 8693): a trust
   * decision between systems, made for the whole province, so only a global super_admin holds it.
   */
  'clients.token_exchange',
  /** Start and close access review campaigns over a subtree (or, globally, over an app). Reviewers need no permission: the items name them. */
  'access_reviews.manage',
] as const;
export type Permission = (typeof permissions)[number];

export const permissionsOfRole: Readonly<Record<AdminRole, readonly Permission[]>> = Object.freeze({
  super_admin: permissions,
  org_admin: [
    'users.read', 'users.write', 'users.lifecycle', 'users.activation', 'users.unlock', 'users.reset_factors', 'org_units.read', 'org_units.write',
    'groups.read', 'groups.write', 'roles.read', 'roles.write', 'audit.read', 'apps.assign', 'access_reviews.manage',
  ],
  helpdesk: ['users.read', 'users.activation', 'users.unlock', 'users.reset_factors', 'org_units.read', 'groups.read'],
  auditor: ['users.read', 'org_units.read', 'groups.read', 'roles.read', 'audit.read'],
  developer: ['clients.register'],
});

/** Someone acting through the admin API or console: a person, or a service client. */
export interface Principal {
  readonly actor: Actor;
  readonly holder: RoleHolder;
  readonly assignments: readonly ScopedAssignment[];
}

/** An admin request: who asks, and from where (for the audit log). */
export interface AdminContext {
  readonly principal: Principal;
  readonly origin: RequestOrigin;
}

/** Where a permission reaches: everywhere, or the listed subtrees (possibly none). */
export type Scope = { readonly global: true } | { readonly global: false; readonly subtrees: readonly string[] };

export function scopeOf(principal: Principal, permission: Permission): Scope {
  const granting = principal.assignments.filter((assignment) => permissionsOfRole[assignment.role].includes(permission));
  if (granting.some((assignment) => assignment.org_unit_id === null)) return { global: true };
  return { global: false, subtrees: granting.map((assignment) => assignment.org_unit_path).filter((path) => path !== null) };
}

/** For list queries: null means unrestricted, otherwise the subtrees the rows must lie in. */
export function subtreeFilter(scope: Scope): readonly string[] | null {
  return scope.global ? null : scope.subtrees;
}

/** Whether a scope reaches a unit (by path). Something outside every unit (null) only a global scope reaches. */
export function scopeCovers(scope: Scope, unitPath: string | null): boolean {
  if (scope.global) return true;
  return unitPath !== null && scope.subtrees.some((subtree) => unitPath.startsWith(subtree));
}

export function isPermitted(principal: Principal, permission: Permission): boolean {
  const scope = scopeOf(principal, permission);
  return scope.global || scope.subtrees.length > 0;
}

/** A refusal: 403 to the caller, and an audit event written by whoever catches it. */
export class AccessDenied extends AppError {
  override name = 'AccessDenied';
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string } | undefined;
  /** The unit the refused request was about, so that the auditors of that subtree see the attempt. */
  readonly orgUnitId: string | null;

  constructor(message: string | LocalizableMessage, action: string, target?: { type: string; id: string }, orgUnitId: string | null = null) {
    super('forbidden', message, 403);
    this.action = action;
    this.target = target;
    this.orgUnitId = orgUnitId;
  }
}

/**
 * Refuses unless the principal holds `permission` over the unit at `unitPath` (or, for a list of
 * paths, over at least one of them, as when a person serves in several units).
 */
export function requirePermission(
  principal: Principal,
  permission: Permission,
  unitPath: string | null | readonly (string | null)[],
  refusal: { action: string; target?: { type: string; id: string }; orgUnitId?: string | null; message: string | LocalizableMessage },
): void {
  const scope = scopeOf(principal, permission);
  const paths: readonly (string | null)[] = typeof unitPath === 'string' || unitPath === null ? [unitPath] : unitPath;
  if (paths.some((path) => scopeCovers(scope, path))) return;
  throw new AccessDenied(refusal.message, refusal.action, refusal.target, refusal.orgUnitId ?? null);
}

/**
 * Whether the principal may grant (or take away) `role` over the unit at `unitPath` (null: global).
 * They must manage roles there, and hold that same role over a scope that includes it: nobody hands
 * out more than they have, and so nobody can widen their own rights through someone else.
 */
export function mayGrantRole(principal: Principal, role: AdminRole, unitPath: string | null): boolean {
  if (!scopeCovers(scopeOf(principal, 'roles.write'), unitPath)) return false;
  return principal.assignments.some(
    (assignment) =>
      (assignment.role === role || assignment.role === 'super_admin') &&
      (assignment.org_unit_path === null || (unitPath !== null && unitPath.startsWith(assignment.org_unit_path))),
  );
}

export function isSelf(principal: Principal, holder: RoleHolder): boolean {
  const self = principal.holder;
  // Ids compare without regard to case: a uuid in capitals is still the same person.
  return 'userId' in self
    ? 'userId' in holder && holder.userId.toLowerCase() === self.userId.toLowerCase()
    : 'clientId' in holder && holder.clientId.toLowerCase() === self.clientId.toLowerCase();
}
