import type { AuditEventFilter } from '../db/queries/audit-events.ts';
import { localizable } from '../errors.ts';
import { AccessDenied, isPermitted, scopeOf, subtreeFilter, type AdminContext } from './authorization.ts';

/** The largest export in one file; narrow the time range for more. */
export const auditExportLimit = 100_000;

export type AuditCriteria = Omit<AuditEventFilter, 'subtrees' | 'beforeId' | 'limit'>;

/**
 * Reading the audit log, for the API and the console alike: it needs the auditor's permission
 * somewhere, and shows only events about the subtrees it covers (a global auditor sees all).
 */
export function auditCriteriaFor(context: AdminContext, criteria: AuditCriteria): Omit<AuditEventFilter, 'beforeId' | 'limit'> {
  if (!isPermitted(context.principal, 'audit.read')) throw new AccessDenied(localizable('reading the audit log needs the auditor role', 'problem.audit.needs_auditor'), 'audit.read');
  return { ...criteria, subtrees: subtreeFilter(scopeOf(context.principal, 'audit.read')) };
}
