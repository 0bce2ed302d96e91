import { sql, type Kysely } from 'kysely';

import type { AuditEvent, AuditOutcome, Database, NewAuditEvent } from '../schema.ts';
import { orgUnitInSubtrees } from './org-units.ts';

/**
 * Serializes writers of the audit chain: each new row needs the hash of the row before it, so two
 * transactions must not both read the same "last" row. Held until the transaction ends.
 */
export async function lockAuditChain(trx: Kysely<Database>): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('mekong_id.audit_chain'))`.execute(trx);
}

export async function lastAuditHash(trx: Kysely<Database>): Promise<string | undefined> {
  const row = await trx.selectFrom('audit_events').select('hash').orderBy('id', 'desc').limit(1).executeTakeFirst();
  return row?.hash;
}

export async function nextAuditEventId(trx: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ id: string }>`select nextval(pg_get_serial_sequence('audit_events', 'id'))::text as id`.execute(trx);
  return rows[0]!.id;
}

export async function insertAuditEvent(trx: Kysely<Database>, event: NewAuditEvent): Promise<void> {
  await trx.insertInto('audit_events').values(event).execute();
}

/** A page of the whole chain in id order, for verification. */
export async function auditEventsAfter(db: Kysely<Database>, afterId: string | null, limit: number): Promise<AuditEvent[]> {
  let query = db.selectFrom('audit_events').selectAll().orderBy(sql`id`, 'asc').limit(limit);
  if (afterId !== null) query = query.where(sql<boolean>`id > ${afterId}::bigint`);
  return withTextIds(await query.execute());
}

export interface AuditEventFilter {
  actorId?: string | undefined;
  action?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  outcome?: AuditOutcome | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  /** Only events about these subtrees (paths); null for every event. */
  subtrees: readonly string[] | null;
  /** Newest first: events with a smaller id than this. */
  beforeId?: string | undefined;
  limit: number;
}

export async function listAuditEvents(db: Kysely<Database>, filter: AuditEventFilter): Promise<AuditEvent[]> {
  let query = db.selectFrom('audit_events').selectAll('audit_events').orderBy(sql`audit_events.id`, 'desc').limit(filter.limit);
  if (filter.actorId !== undefined) query = query.where('actor_id', '=', filter.actorId);
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  if (filter.targetType !== undefined) query = query.where('target_type', '=', filter.targetType);
  if (filter.targetId !== undefined) query = query.where('target_id', '=', filter.targetId);
  if (filter.outcome !== undefined) query = query.where('outcome', '=', filter.outcome);
  if (filter.from !== undefined) query = query.where('occurred_at', '>=', filter.from);
  if (filter.to !== undefined) query = query.where('occurred_at', '<', filter.to);
  if (filter.beforeId !== undefined) query = query.where(sql<boolean>`audit_events.id < ${filter.beforeId}::bigint`);
  const subtrees = filter.subtrees;
  if (subtrees !== null) query = query.where((eb) => orgUnitInSubtrees(eb, eb.ref('audit_events.org_unit_id'), subtrees));
  return withTextIds(await query.execute());
}

/** pg reads bigint as a string, PGlite as a number when it fits: make it a string either way. */
function withTextIds(rows: AuditEvent[]): AuditEvent[] {
  return rows.map((row) => ({ ...row, id: String(row.id as string | number) }));
}
