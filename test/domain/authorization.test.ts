import { describe, expect, it } from 'vitest';

import type { AdminRole } from '../../src/db/schema.ts';
import {
  AccessDenied,
  isPermitted,
  mayGrantRole,
  requirePermission,
  scopeCovers,
  scopeOf,
  subtreeFilter,
  type Principal,
} from '../../src/domain/authorization.ts';

// Paths as the org tree stores them: ids from the root down.
const province = '/p/';
const caiBe = '/p/caibe/';
const caiBeCommune = '/p/caibe/x01/';
const choGao = '/p/chogao/';
const choGaoCommune = '/p/chogao/x01/';
// A sibling whose id starts like Cái Bè's: prefix matching must respect the path separator.
const caiBeLookalike = '/p/caibe2/';

function principal(...assignments: [AdminRole, string | null][]): Principal {
  return {
    actor: { type: 'user', id: 'u-admin', name: 'admin' },
    holder: { userId: 'u-admin' },
    assignments: assignments.map(([role, path], index) => ({ id: `a${index}`, role, org_unit_id: path === null ? null : `unit-${index}`, org_unit_path: path })),
  };
}

const refusal = { action: 'user.update', message: 'outside your scope' };

describe('the scope of a permission', () => {
  it('is global for a super administrator, who reaches every unit and people outside every unit', () => {
    const admin = principal(['super_admin', null]);
    expect(scopeOf(admin, 'users.write')).toEqual({ global: true });
    expect(subtreeFilter(scopeOf(admin, 'audit.read'))).toBeNull();
    expect(scopeCovers(scopeOf(admin, 'users.write'), null)).toBe(true);
  });

  it('is the subtree for an org admin: their district and everything below it, nothing beside it', () => {
    const scope = scopeOf(principal(['org_admin', caiBe]), 'users.write');
    expect(scope).toEqual({ global: false, subtrees: [caiBe] });
    expect(scopeCovers(scope, caiBe)).toBe(true);
    expect(scopeCovers(scope, caiBeCommune)).toBe(true);
    expect(scopeCovers(scope, choGao)).toBe(false);
    expect(scopeCovers(scope, choGaoCommune)).toBe(false);
    expect(scopeCovers(scope, province)).toBe(false);
    expect(scopeCovers(scope, caiBeLookalike)).toBe(false);
    // Someone in no unit at all (the first administrator) is for global administrators only.
    expect(scopeCovers(scope, null)).toBe(false);
  });

  it('unites the subtrees of several assignments, and counts only roles that carry the permission', () => {
    const admin = principal(['org_admin', caiBe], ['auditor', choGao], ['developer', null]);
    expect(scopeOf(admin, 'users.write')).toEqual({ global: false, subtrees: [caiBe] });
    expect(scopeOf(admin, 'users.read')).toEqual({ global: false, subtrees: [caiBe, choGao] });
    // A global developer role does not make anyone a global reader of people.
    expect(scopeOf(admin, 'audit.read')).toEqual({ global: false, subtrees: [caiBe, choGao] });
    expect(scopeOf(admin, 'clients.register')).toEqual({ global: true });
  });

  it('gives a helpdesk reading and activation, never changes or lifecycle steps', () => {
    const helpdesk = principal(['helpdesk', caiBe]);
    expect(isPermitted(helpdesk, 'users.read')).toBe(true);
    expect(isPermitted(helpdesk, 'users.activation')).toBe(true);
    expect(isPermitted(helpdesk, 'users.write')).toBe(false);
    expect(isPermitted(helpdesk, 'users.lifecycle')).toBe(false);
    expect(isPermitted(helpdesk, 'roles.write')).toBe(false);
  });

  it('makes an auditor read-only, audit log included', () => {
    const auditor = principal(['auditor', null]);
    expect(isPermitted(auditor, 'audit.read')).toBe(true);
    expect(isPermitted(auditor, 'users.read')).toBe(true);
    for (const write of ['users.write', 'users.lifecycle', 'org_units.write', 'groups.write', 'roles.write'] as const) {
      expect(isPermitted(auditor, write)).toBe(false);
    }
  });

  it('leaves someone with no role with nothing: empty subtrees, not everything', () => {
    const nobody = principal();
    expect(scopeOf(nobody, 'users.read')).toEqual({ global: false, subtrees: [] });
    expect(subtreeFilter(scopeOf(nobody, 'users.read'))).toEqual([]);
  });
});

describe('requirePermission', () => {
  it('lets an org admin act on their subtree and refuses the district next door with an AccessDenied naming the action', () => {
    const admin = principal(['org_admin', caiBe]);
    expect(() => requirePermission(admin, 'users.write', caiBeCommune, refusal)).not.toThrow();
    const refused = (() => {
      try {
        requirePermission(admin, 'users.write', choGaoCommune, { ...refusal, target: { type: 'user', id: 'u-1' } });
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(refused).toBeInstanceOf(AccessDenied);
    expect(refused).toMatchObject({ status: 403, code: 'forbidden', action: 'user.update', target: { type: 'user', id: 'u-1' } });
  });

  it('accepts a person serving in several units when any of them is in scope', () => {
    const admin = principal(['org_admin', caiBe]);
    expect(() => requirePermission(admin, 'users.read', [choGao, caiBeCommune], refusal)).not.toThrow();
    expect(() => requirePermission(admin, 'users.read', [choGao, province], refusal)).toThrow(AccessDenied);
  });

  it('refuses when there is nothing to cover', () => {
    expect(() => requirePermission(principal(['super_admin', null]), 'users.read', [], refusal)).toThrow(AccessDenied);
  });
});

describe('granting roles', () => {
  it('lets nobody grant super_admin but a global super administrator', () => {
    expect(mayGrantRole(principal(['super_admin', null]), 'super_admin', null)).toBe(true);
    expect(mayGrantRole(principal(['org_admin', province]), 'super_admin', null)).toBe(false);
    expect(mayGrantRole(principal(['org_admin', caiBe]), 'super_admin', caiBe)).toBe(false);
  });

  it('lets an org admin grant org_admin inside their subtree, not over it, beside it or globally', () => {
    const admin = principal(['org_admin', caiBe]);
    expect(mayGrantRole(admin, 'org_admin', caiBeCommune)).toBe(true);
    expect(mayGrantRole(admin, 'org_admin', caiBe)).toBe(true);
    expect(mayGrantRole(admin, 'org_admin', choGao)).toBe(false);
    expect(mayGrantRole(admin, 'org_admin', province)).toBe(false);
    expect(mayGrantRole(admin, 'org_admin', null)).toBe(false);
  });

  it('lets an org admin hand out only roles they hold themselves', () => {
    const admin = principal(['org_admin', caiBe]);
    expect(mayGrantRole(admin, 'helpdesk', caiBeCommune)).toBe(false);
    expect(mayGrantRole(admin, 'auditor', caiBeCommune)).toBe(false);
    const withHelpdesk = principal(['org_admin', caiBe], ['helpdesk', caiBeCommune]);
    expect(mayGrantRole(withHelpdesk, 'helpdesk', caiBeCommune)).toBe(true);
    // Holding helpdesk over the commune does not reach the rest of the district.
    expect(mayGrantRole(withHelpdesk, 'helpdesk', caiBe)).toBe(false);
  });

  it('does not let a holder of a role grant it without the right to manage roles', () => {
    expect(mayGrantRole(principal(['helpdesk', caiBe]), 'helpdesk', caiBeCommune)).toBe(false);
    expect(mayGrantRole(principal(['auditor', null]), 'auditor', caiBe)).toBe(false);
  });
});
