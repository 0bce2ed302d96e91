import type { AuditEvent } from '../db/schema.ts';
import { spreadsheetCsv } from './csv.ts';

/** Audit events as CSV, for the API's export and the console's download alike. */
export function auditEventsCsv(rows: readonly AuditEvent[]): string {
  return spreadsheetCsv(
    ['id', 'occurred_at', 'actor_type', 'actor_id', 'actor_name', 'action', 'outcome', 'target_type', 'target_id',
      'org_unit_id', 'before', 'after', 'details', 'ip', 'user_agent', 'request_id', 'hash'],
    rows.map((row) => [
      row.id, row.occurred_at.toISOString(), row.actor_type, row.actor_id, row.actor_name, row.action, row.outcome, row.target_type,
      row.target_id, row.org_unit_id, row.before && JSON.stringify(row.before), row.after && JSON.stringify(row.after),
      row.details && JSON.stringify(row.details), row.ip, row.user_agent, row.request_id, row.hash,
    ]),
  );
}
