import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';

import { listAuditEvents } from '../../db/queries/audit-events.ts';
import { verifyAuditChain } from '../../domain/audit.ts';
import { auditCriteriaFor, auditExportLimit, type AuditCriteria } from '../../domain/audit-log.ts';
import { requirePermission, scopeOf } from '../../domain/authorization.ts';
import { localizable } from '../../errors.ts';
import { decodeCursor, encodeCursor } from '../api/route.ts';
import { auditEventsCsv } from '../audit-csv.ts';
import { sendCsvDownload } from '../csv.ts';
import { auditLabel, contextOf, definedEntries, render, type AdminConsoleDeps } from './pages.ts';

const pageSize = 50;

/**
 * A day as the form's date inputs give it (YYYY-MM-DD), read in the province's time zone. One that
 * is not on the calendar (9999-99-99, 2026-02-30) is no filter, like an empty field: it used to
 * become an Invalid Date and fail in the query, a 500.
 */
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/).refine(isCalendarDay).optional().catch(undefined).transform((value) => value || undefined);

function isCalendarDay(value: string): boolean {
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}

const filterQuery = z.object({
  actor: z.string().trim().max(200).optional().transform((value) => value || undefined),
  action: z.string().trim().max(100).optional().transform((value) => value || undefined),
  target: z.string().trim().max(200).optional().transform((value) => value || undefined),
  outcome: z.enum(['success', 'failure', 'denied']).optional().catch(undefined),
  from: day,
  to: day,
  before: z.string().max(100).optional(),
});
type FilterQuery = z.infer<typeof filterQuery>;

const startOfDay = (value: string) => new Date(`${value}T00:00:00+07:00`);

function criteriaOf(query: FilterQuery): AuditCriteria {
  const to = query.to ? startOfDay(query.to) : undefined;
  return {
    // An id as the API gives it, or the name an admin knows.
    ...(query.actor && z.uuid().safeParse(query.actor).success ? { actorId: query.actor } : { actorName: query.actor }),
    action: query.action, targetId: query.target, outcome: query.outcome,
    from: query.from ? startOfDay(query.from) : undefined,
    // The "to" day is included: events before the start of the next day.
    to: to ? new Date(to.getTime() + 24 * 60 * 60 * 1000) : undefined,
  };
}

/**
 * The audit log, for those who may read it: filters (actor, action, target, outcome, days), pages
 * newest first, the same rows as a CSV download, and the verification of the whole hash chain for
 * a global auditor. The scope rules are the API's (domain/audit-log.ts).
 */
export function mountAuditLog(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  router.get('/audit', ...guard, async (ctx) => {
    const context = contextOf(ctx);
    const parsed = filterQuery.safeParse(ctx.query);
    const query: FilterQuery = parsed.success ? parsed.data : filterQuery.parse({});
    const criteria = auditCriteriaFor(context, criteriaOf(query));
    // An event id is a bigint: a cursor of 19 digits or more could overflow it in the query (a 500), and was never one we gave out.
    const rows = await listAuditEvents(deps.db, { ...criteria, beforeId: decodeCursor(query.before, z.string().regex(/^\d{1,18}$/)), limit: pageSize + 1 });
    const shown = rows.slice(0, pageSize);
    const filters = definedEntries({ actor: query.actor, action: query.action, target: query.target, outcome: query.outcome, from: query.from, to: query.to });
    const last = shown.at(-1);
    render(deps, ctx, 'admin/audit', 'admin.audit.title', (t) => ({
      query,
      events: shown.map((event) => ({ ...event, label: auditLabel(t, event.action) })),
      nextUrl: rows.length > pageSize && last ? `/admin/audit?${new URLSearchParams({ ...filters, before: encodeCursor(last.id) }).toString()}` : null,
      exportUrl: `/admin/audit/export?${new URLSearchParams(filters).toString()}`,
      mayVerify: scopeOf(context.principal, 'audit.read').global,
    }));
  });

  router.get('/audit/export', ...guard, async (ctx) => {
    const parsed = filterQuery.safeParse(ctx.query);
    const criteria = auditCriteriaFor(contextOf(ctx), criteriaOf(parsed.success ? parsed.data : filterQuery.parse({})));
    const rows = await listAuditEvents(deps.db, { ...criteria, limit: auditExportLimit });
    sendCsvDownload(ctx, 'audit-events.csv', auditEventsCsv(rows));
  });

  router.get('/audit/verification', ...guard, async (ctx) => {
    requirePermission(contextOf(ctx).principal, 'audit.read', null, { action: 'audit.verify', message: localizable('verifying the whole audit log needs a global auditor', 'problem.audit.verify_needs_global') });
    const report = await verifyAuditChain(deps.db);
    render(deps, ctx, 'admin/audit-verification', 'admin.audit.verify_title', { report });
  });
}
