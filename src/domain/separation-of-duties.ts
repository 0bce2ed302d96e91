import type { Kysely } from 'kysely';
import { z } from 'zod';

import { listAppRoleNames } from '../db/queries/app-access.ts';
import { findActiveClient } from '../db/queries/clients.ts';
import {
  deleteSodRule, findSodViolations, insertSodRule, listSodRules, type SodFilter, type SodRuleRow, type SodViolation,
} from '../db/queries/separation-of-duties.ts';
import type { Database } from '../db/schema.ts';
import { AppError, assertThat, conflict, invalidInput, localizable } from '../errors.ts';
import { recordAuditEvent } from './audit.ts';
import { AccessDenied, isPermitted, requirePermission, scopeOf, subtreeFilter, type AdminContext } from './authorization.ts';
import { auditBase } from './org-units.ts';
import { normalizeName } from './person-fields.ts';

/**
 * Separation of duties: rules naming two app roles that one person must not hold in the same unit
 * (the task system's creator and its approver). A grant that would break a rule is refused with the
 * rule named; what other changes bring about (a transfer, a reorganization) is listed in a report.
 * Rules concern the whole province, so global administrators write them.
 */
export interface SodDeps {
  readonly db: Kysely<Database>;
}

const appRole = z.object({ client_id: z.string().min(1).max(200), role: z.string().min(1).max(64) });

export const sodRuleSchema = z.object({
  name: z.string().transform(normalizeName).pipe(z.string().min(1, 'a rule needs a name').max(200)),
  description: z.string().trim().max(1000).nullable().optional(),
  first: appRole,
  second: appRole,
}).refine((rule) => rule.first.client_id !== rule.second.client_id || rule.first.role !== rule.second.role, {
  path: ['second'], error: 'a rule names two different roles',
});

/** A grant refused because of a rule: a refusal like any other (403, audited), naming the rule and whom it concerns. */
export class SeparationOfDutiesViolation extends AccessDenied {
  override name = 'SeparationOfDutiesViolation';
}

const target = (id: string) => ({ type: 'sod_rule', id });

async function requireDeclaredRole(db: Kysely<Database>, which: z.output<typeof appRole>): Promise<string> {
  const client = await findActiveClient(db, which.client_id);
  assertThat(client, () => invalidInput(localizable(`no active app with client id ${which.client_id}`, 'problem.client.not_active', { id: which.client_id })));
  const declared = await listAppRoleNames(db, which.client_id);
  const name = (client.metadata['client_name'] as string | undefined) ?? which.client_id;
  assertThat(declared.includes(which.role), () => invalidInput(localizable(`${name} declares no role ${which.role}; it declares ${declared.join(', ') || 'none'}`, 'problem.sod.undeclared_role', { app: name, role: which.role, declared: declared.join(', ') || '–' })));
  return name;
}

function requireRuleWriter(context: AdminContext, action: string, id?: string): void {
  requirePermission(context.principal, 'apps.assign', null, {
    action, ...(id === undefined ? {} : { target: target(id) }),
    message: localizable('separation-of-duties rules hold for the whole province: they need a global administrator', 'problem.sod.needs_global'),
  });
}

export async function listRules(deps: SodDeps, context: AdminContext): Promise<SodRuleRow[]> {
  assertThat(isPermitted(context.principal, 'apps.assign'), () => new AccessDenied(localizable('reading separation-of-duties rules needs the right to assign apps', 'problem.sod.read_needs_assign'), 'sod_rule.read'));
  return listSodRules(deps.db);
}

export async function createRule(deps: SodDeps, context: AdminContext, input: z.output<typeof sodRuleSchema>): Promise<SodRuleRow> {
  requireRuleWriter(context, 'sod_rule.create');
  return deps.db.transaction().execute(async (trx) => {
    await requireDeclaredRole(trx, input.first);
    await requireDeclaredRole(trx, input.second);
    const id = await insertSodRule(trx, {
      name: input.name, description: input.description ?? null,
      client_a: input.first.client_id, role_a: input.first.role, client_b: input.second.client_id, role_b: input.second.role,
      created_by: `${context.principal.actor.type}:${context.principal.actor.id ?? ''}`,
    });
    assertThat(id, () => conflict(localizable('a rule for these two roles exists already', 'problem.sod.duplicate')));
    const [rule] = await listSodRules(trx, { id });
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'sod_rule.create', target: target(id),
      after: { name: rule!.name, first: input.first, second: input.second },
    });
    return rule!;
  });
}

export async function removeRule(deps: SodDeps, context: AdminContext, id: string): Promise<void> {
  requireRuleWriter(context, 'sod_rule.delete', id);
  await deps.db.transaction().execute(async (trx) => {
    const [rule] = await listSodRules(trx, { id });
    assertThat(rule, () => new AppError('not_found', localizable(`no separation-of-duties rule with id ${id}`, 'problem.sod.not_found', { id }), 404));
    await deleteSodRule(trx, id);
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'sod_rule.delete', target: target(id),
      before: { name: rule.name, first: { client_id: rule.client_a, role: rule.role_a }, second: { client_id: rule.client_b, role: rule.role_b } },
    });
  });
}

/** The violations that stand today, among the people the admin can see. */
export async function listViolations(deps: SodDeps, context: AdminContext): Promise<SodViolation[]> {
  return findSodViolations(deps.db, { subtrees: subtreeFilter(scopeOf(context.principal, 'users.read')) });
}

/**
 * Call inside the transaction of a grant, after writing it: refuses (and so rolls back) when the
 * people it reaches now break a rule. Only the first violation is named; the report lists all.
 */
export async function refuseSodViolations(
  trx: Kysely<Database>,
  filter: SodFilter,
  refusal: { action: string; target?: { type: string; id: string }; orgUnitId?: string | null },
): Promise<void> {
  const [violation] = await findSodViolations(trx, filter, 1);
  if (!violation) return;
  const where = violation.unit_name === null ? '' : ` in ${violation.unit_name}`;
  const named = {
    person: violation.full_name, username: violation.username, app_a: violation.app_a, role_a: violation.role_a, app_b: violation.app_b, role_b: violation.role_b, rule: violation.rule_name,
  };
  const english = `this would give ${violation.full_name} (${violation.username}) both ${violation.app_a} "${violation.role_a}" and ${violation.app_b} "${violation.role_b}"${where}, which the separation-of-duties rule "${violation.rule_name}" forbids`;
  throw new SeparationOfDutiesViolation(
    violation.unit_name === null
      ? localizable(english, 'problem.sod.violation', named)
      : localizable(english, 'problem.sod.violation_in_unit', { ...named, unit: violation.unit_name }),
    refusal.action, refusal.target, refusal.orgUnitId ?? null,
  );
}
