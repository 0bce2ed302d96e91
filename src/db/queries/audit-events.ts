import { sql, type Kysely } from 'kysely';

import { preparedStatement } from '../prepared-statements.ts';
import type { AuditEvent, AuditOutcome, Database, NewAuditEvent } from '../schema.ts';
import { orgUnitInSubtrees } from './org-units.ts';

export interface AuditChainHead {
  readonly lastId: string | null;
  readonly hash: string;
  readonly count: number;
}

/**
 * Locks the head of the chain until the transaction ends and reads it: each new row needs the hash
 * of the row before it, so writers take turns here. Under repeatable read or serializable, a head
 * that moved since the snapshot is a serialization failure rather than a fork of the chain.
 */
export async function lockAuditChainHead(trx: Kysely<Database>): Promise<AuditChainHead> {
  const row = await trx.selectFrom('audit_chain_head').select([sql<string | null>`last_id::text`.as('last_id'), 'hash', 'count'])
    .forUpdate().modifyEnd(preparedStatement).executeTakeFirstOrThrow();
  return { lastId: row.last_id, hash: row.hash, count: Number(row.count) };
}

export async function readAuditChainHead(db: Kysely<Database>): Promise<AuditChainHead> {
  const row = await db.selectFrom('audit_chain_head').select([sql<string | null>`last_id::text`.as('last_id'), 'hash', 'count'])
    .executeTakeFirstOrThrow();
  return { lastId: row.last_id, hash: row.hash, count: Number(row.count) };
}

export async function advanceAuditChainHead(trx: Kysely<Database>, head: AuditChainHead): Promise<void> {
  await trx.updateTable('audit_chain_head').set({ last_id: head.lastId, hash: head.hash, count: head.count }).modifyEnd(preparedStatement).execute();
}

/** `count` ids from the sequence, ascending: taken under the head's lock, so they follow the chain. */
export async function nextAuditEventIds(trx: Kysely<Database>, count: number): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`select nextval(pg_get_serial_sequence('audit_events', 'id'))::text as id
    from generate_series(1, ${count})${preparedStatement}`.execute(trx);
  return rows.map((row) => row.id).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

/** 19 columns a row: 1,000 rows stay far below PostgreSQL's 65,535 parameters per statement. */
const insertChunk = 1000;

export async function insertAuditEvents(trx: Kysely<Database>, events: readonly NewAuditEvent[]): Promise<void> {
  for (let start = 0; start < events.length; start += insertChunk) {
    const chunk = events.slice(start, start + insertChunk);
    const insert = trx.insertInto('audit_events').values(chunk);
    // One event, the usual case (a sign-in, an admin's change), is one statement text: prepared.
    await (chunk.length === 1 ? insert.modifyEnd(preparedStatement) : insert).execute();
  }
}

/** A page of the whole chain in id order, for verification. */
export async function auditEventsAfter(db: Kysely<Database>, afterId: string | null, limit: number): Promise<AuditEvent[]> {
  let query = db.selectFrom('audit_events').selectAll().orderBy(sql`id`, 'asc').limit(limit);
  if (afterId !== null) query = query.where(sql<boolean>`id > ${afterId}::bigint`);
  return withTextIds(await query.execute());
}

export interface AuditEventFilter {
  actorId?: string | undefined;
  /** The actor's name at the time (a username, a client's name), without case. */
  actorName?: string | undefined;
  action?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  /** With a user as target: also the events of the accounts merged into them (a directory merge keeps both histories). */
  withMergedAccounts?: boolean | undefined;
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
  if (filter.actorName !== undefined) query = query.where(sql<string>`lower(actor_name)`, '=', filter.actorName.toLowerCase());
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  if (filter.targetType !== undefined) query = query.where('target_type', '=', filter.targetType);
  if (filter.targetId !== undefined && filter.withMergedAccounts) {
    const targetId = filter.targetId;
    query = query.where((eb) => eb('target_id', '=', targetId)
      .or('target_id', 'in', eb.selectFrom('users').select(sql<string>`id::text`.as('id')).where(sql<string>`merged_into::text`, '=', targetId)));
  } else if (filter.targetId !== undefined) query = query.where('target_id', '=', filter.targetId);
  if (filter.outcome !== undefined) query = query.where('outcome', '=', filter.outcome);
  if (filter.from !== undefined) query = query.where('occurred_at', '>=', filter.from);
  if (filter.to !== undefined) query = query.where('occurred_at', '<', filter.to);
  if (filter.beforeId !== undefined) query = query.where(sql<boolean>`audit_events.id < ${filter.beforeId}::bigint`);
  if (filter.subtrees !== null) query = query.where(orgUnitInSubtrees(sql.ref('audit_events.org_unit_id'), filter.subtrees));
  return withTextIds(await query.execute());
}

/** pg reads bigint as a string, PGlite as a number when it fits: make it a string either way. */
function withTextIds(rows: AuditEvent[]): AuditEvent[] {
  return rows.map((row) => ({ ...row, id: String(row.id as string | number) }));
}
