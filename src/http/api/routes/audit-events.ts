import { stringify } from 'csv-stringify/sync';
import type { Kysely } from 'kysely';
import { z } from 'zod';

import { listAuditEvents } from '../../../db/queries/audit-events.ts';
import type { AuditEvent, Database } from '../../../db/schema.ts';
import { verifyAuditChain } from '../../../domain/audit.ts';
import {
  AccessDenied,
  isPermitted,
  requirePermission,
  scopeOf,
  subtreeFilter,
  type AdminContext,
} from '../../../domain/authorization.ts';
import { auditEvent, toAuditEvent } from '../representations.ts';
import { decodeCursor, defineRoute, listLimit, listOf, page, type ApiRoute } from '../route.ts';

const filters = z.object({
  actor_id: z.string().max(200).optional(),
  action: z.string().max(100).optional(),
  target_type: z.string().max(100).optional(),
  target_id: z.string().max(200).optional(),
  outcome: z.enum(['success', 'failure', 'denied']).optional(),
  from: z.iso.datetime({ offset: true }).optional().describe('events at or after this instant'),
  to: z.iso.datetime({ offset: true }).optional().describe('events before this instant'),
});

/** The largest export in one file; narrow the time range for more. */
const exportLimit = 100_000;

function auditFilter(context: AdminContext, query: z.output<typeof filters>) {
  if (!isPermitted(context.principal, 'audit.read')) throw new AccessDenied('reading the audit log needs the auditor role', 'audit.read');
  return {
    actorId: query.actor_id,
    action: query.action,
    targetType: query.target_type,
    targetId: query.target_id,
    outcome: query.outcome,
    from: query.from === undefined ? undefined : new Date(query.from),
    to: query.to === undefined ? undefined : new Date(query.to),
    subtrees: subtreeFilter(scopeOf(context.principal, 'audit.read')),
  };
}

/** A cell that a spreadsheet would run as a formula is defused with a leading apostrophe. */
const defused = (value: string) => (/^[=+\-@\t\r]/.test(value) ? `'${value}` : value);

function toCsv(rows: readonly AuditEvent[]): string {
  const header = ['id', 'occurred_at', 'actor_type', 'actor_id', 'actor_name', 'action', 'outcome', 'target_type', 'target_id',
    'org_unit_id', 'before', 'after', 'details', 'ip', 'user_agent', 'request_id', 'hash'];
  const records = rows.map((row) => [
    row.id, row.occurred_at.toISOString(), row.actor_type, row.actor_id, row.actor_name, row.action, row.outcome, row.target_type,
    row.target_id, row.org_unit_id, row.before && JSON.stringify(row.before), row.after && JSON.stringify(row.after),
    row.details && JSON.stringify(row.details), row.ip, row.user_agent, row.request_id, row.hash,
  ].map((value) => defused(value ?? '')));
  // A byte-order mark, so that Excel opens Vietnamese text as UTF-8.
  return `\uFEFF${stringify([header, ...records])}`;
}

export function auditEventRoutes(deps: { db: Kysely<Database> }): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/audit-events', tag: 'audit', summary: 'The audit log, newest first, limited to the units in your scope',
      query: filters.extend({ limit: listLimit, cursor: z.string().optional() }),
      response: listOf(auditEvent),
      handler: async ({ query, context }) => {
        const rows = await listAuditEvents(deps.db, { ...auditFilter(context, query), beforeId: decodeCursor(query.cursor, z.string().regex(/^\d+$/)), limit: query.limit + 1 });
        return page(rows, query.limit, toAuditEvent, (row) => row.id);
      },
    }),
    defineRoute({
      method: 'get', path: '/audit-events/export', tag: 'audit', summary: `The audit log as CSV (UTF-8), with the same filters; at most ${exportLimit} rows`,
      query: filters, response: z.string(), alsoProduces: ['text/csv'],
      handler: async ({ query, context }) => {
        const rows = await listAuditEvents(deps.db, { ...auditFilter(context, query), limit: exportLimit });
        return { raw: toCsv(rows), type: 'text/csv; charset=utf-8', filename: 'audit-events.csv' };
      },
    }),
    defineRoute({
      method: 'get', path: '/audit-events/verification', tag: 'audit',
      summary: 'Walk the whole hash chain (as `mekong-id audit verify` does) and name the first row that was changed, removed or inserted',
      response: z.object({ ok: z.boolean(), checked: z.number().int(), id: z.string().optional(), problem: z.enum(['changed', 'broken_link', 'head_mismatch']).optional() }),
      handler: async ({ context }) => {
        requirePermission(context.principal, 'audit.read', null, { action: 'audit.verify', message: 'verifying the whole audit log needs a global auditor' });
        return verifyAuditChain(deps.db);
      },
    }),
  ];
}
