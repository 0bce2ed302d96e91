import type { Kysely } from 'kysely';
import { z } from 'zod';

import { listAuditEvents } from '../../../db/queries/audit-events.ts';
import type { Database } from '../../../db/schema.ts';
import { verifyAuditChain } from '../../../domain/audit.ts';
import { auditCriteriaFor, auditExportLimit } from '../../../domain/audit-log.ts';
import { requirePermission } from '../../../domain/authorization.ts';
import { auditEventsCsv } from '../../audit-csv.ts';
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

const criteriaOf = (query: z.output<typeof filters>) => ({
  actorId: query.actor_id, action: query.action, targetType: query.target_type, targetId: query.target_id, outcome: query.outcome,
  from: query.from === undefined ? undefined : new Date(query.from), to: query.to === undefined ? undefined : new Date(query.to),
});

export function auditEventRoutes(deps: { db: Kysely<Database> }): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/audit-events', tag: 'audit', summary: 'The audit log, newest first, limited to the units in your scope',
      query: filters.extend({ limit: listLimit, cursor: z.string().optional() }),
      response: listOf(auditEvent),
      handler: async ({ query, context }) => {
        // An event id is a bigint: a cursor of 19 digits or more could overflow it in the query (a 500), and was never one we gave out.
        const rows = await listAuditEvents(deps.db, { ...auditCriteriaFor(context, criteriaOf(query)), beforeId: decodeCursor(query.cursor, z.string().regex(/^\d{1,18}$/)), limit: query.limit + 1 });
        return page(rows, query.limit, toAuditEvent, (row) => row.id);
      },
    }),
    defineRoute({
      method: 'get', path: '/audit-events/export', tag: 'audit', summary: `The audit log as CSV (UTF-8), with the same filters; at most ${auditExportLimit} rows`,
      query: filters, response: z.string(), alsoProduces: ['text/csv'],
      handler: async ({ query, context }) => {
        const rows = await listAuditEvents(deps.db, { ...auditCriteriaFor(context, criteriaOf(query)), limit: auditExportLimit });
        return { raw: auditEventsCsv(rows), type: 'text/csv; charset=utf-8', filename: 'audit-events.csv' };
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
