import { createHash } from 'node:crypto';

import type { Kysely } from 'kysely';

import {
  advanceAuditChainHead,
  auditEventsAfter,
  insertAuditEvents,
  lockAuditChainHead,
  nextAuditEventIds,
  readAuditChainHead,
} from '../db/queries/audit-events.ts';
import type { AuditActorType, AuditEvent, AuditOutcome, Database } from '../db/schema.ts';

/** Who did something, as the audit log names them. */
export interface Actor {
  readonly type: AuditActorType;
  readonly id: string | null;
  readonly name: string | null;
}

export const systemActor: Actor = { type: 'system', id: null, name: 'mekong-id' };

/** Where a request came from; every audit row carries it. */
export interface RequestOrigin {
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly requestId: string | null;
}

export const noOrigin: RequestOrigin = { ip: null, userAgent: null, requestId: null };

/** The origin of an HTTP request (a Koa context, described by shape so this module needs no Koa). */
export function originOf(ctx: { ip: string; get(field: string): string; response: { get(field: string): string } }): RequestOrigin {
  return {
    ip: ctx.ip || null,
    userAgent: ctx.get('user-agent') || null,
    // Set on the response by the request-context middleware before anything else runs.
    requestId: ctx.response.get('x-request-id') || null,
  };
}

export interface AuditRecord {
  readonly actor: Actor;
  readonly origin: RequestOrigin;
  /** A dotted verb, stable for filters: "user.create", "login.failure", "role.grant". */
  readonly action: string;
  readonly outcome?: AuditOutcome;
  readonly target?: { readonly type: string; readonly id: string } | undefined;
  /** The unit the event concerns, so that an auditor of a subtree sees it. */
  readonly orgUnitId?: string | null | undefined;
  readonly before?: Record<string, unknown> | null | undefined;
  readonly after?: Record<string, unknown> | null | undefined;
  readonly details?: Record<string, unknown> | null | undefined;
}

export const genesisHash = '0'.repeat(64);

/**
 * Appends one event to the hash chain. Called with the transaction that makes the change, so the
 * change and its record commit together or not at all; called with the plain database, it opens
 * its own transaction. Writers take turns on the chain's head row, which keeps ids in chain order.
 */
export async function recordAuditEvent(db: Kysely<Database>, record: AuditRecord): Promise<void> {
  await recordAuditEvents(db, [record]);
}

/**
 * Appends several events at once, in order: one lock, one batch of ids, one insert. What a bulk
 * change (an import of thousands of people) uses, so that it holds the chain for milliseconds,
 * not for one round trip per person.
 */
export async function recordAuditEvents(db: Kysely<Database>, records: readonly AuditRecord[]): Promise<void> {
  if (records.length === 0) return;
  if (!db.isTransaction) {
    await db.transaction().setIsolationLevel('read committed').execute((trx) => recordAuditEvents(trx, records));
    return;
  }
  const head = await lockAuditChainHead(db);
  const ids = await nextAuditEventIds(db, records.length);
  const occurredAt = new Date();
  let prevHash = head.hash;
  const rows = records.map((record, index) => {
    const row: ChainedFields = {
      id: ids[index]!,
      occurred_at: occurredAt,
      actor_type: record.actor.type,
      actor_id: record.actor.id,
      actor_name: record.actor.name,
      action: record.action,
      outcome: record.outcome ?? 'success',
      target_type: record.target?.type ?? null,
      target_id: record.target?.id ?? null,
      // The uuid column gives back lower case; hash what will be read back.
      org_unit_id: record.orgUnitId?.toLowerCase() ?? null,
      before: asJson(record.before),
      after: asJson(record.after),
      details: asJson(record.details),
      ip: record.origin.ip,
      user_agent: record.origin.userAgent,
      request_id: record.origin.requestId,
    };
    const hash = chainHash(prevHash, row);
    const chained = { ...row, prev_hash: prevHash, hash };
    prevHash = hash;
    return chained;
  });
  await insertAuditEvents(db, rows);
  await advanceAuditChainHead(db, { lastId: ids[ids.length - 1]!, hash: prevHash, count: head.count + records.length });
}

type ChainedFields = Omit<AuditEvent, 'prev_hash' | 'hash'>;

/**
 * A row's hash covers the previous row's hash and every field of the row, the id included, in a
 * canonical form: JSON with keys sorted at every level and the time as an ISO string. Changing,
 * removing or reordering a row breaks the chain from that row on.
 */
export function chainHash(prevHash: string, row: ChainedFields): string {
  const canonical = canonicalJson({ ...row, occurred_at: row.occurred_at.toISOString() });
  return createHash('sha256').update(prevHash).update('\n').update(canonical).digest('hex');
}

/**
 * What jsonb will give back: plain JSON values (dates as strings, no undefined). Text jsonb cannot
 * hold (NUL, lone surrogates: say, in a username someone tried) is made storable rather than
 * letting it fail the change being recorded.
 */
function asJson(value: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
  if (value === undefined || value === null) return null;
  const storable = (_key: string, inner: unknown) => (typeof inner === 'string' ? inner.toWellFormed().replaceAll('\u0000', '\uFFFD') : inner);
  return JSON.parse(JSON.stringify(value, storable)) as Record<string, unknown>;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, v]) => `${JSON.stringify(key)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function headMatches(head: { hash: string; count: number }, lastHash: string, checked: number): boolean {
  return head.hash === lastHash && head.count === checked;
}

export type AuditChainReport =
  | { readonly ok: true; readonly checked: number }
  | {
      readonly ok: false;
      readonly checked: number;
      /** The first row at which the chain fails. */
      readonly id: string;
      /**
       * `changed`: the row's content no longer matches its hash (edited in place).
       * `broken_link`: the row does not follow the row before it (a row was removed before it, or
       * it was inserted out of order).
       * `head_mismatch`: the rows do not end at the head the chain recorded: the newest rows were
       * removed (`id` is the last row found), or a row was added after the head, around
       * recordAuditEvent (`id` is that row).
       */
      readonly problem: 'changed' | 'broken_link' | 'head_mismatch';
    };

/** Walks the whole chain in id order and names the first row that was changed, removed or inserted. */
export async function verifyAuditChain(db: Kysely<Database>, batchSize = 2000): Promise<AuditChainReport> {
  // One snapshot for the head and every row: a row beyond the head in it was not appended by us.
  if (!db.isTransaction) return db.transaction().setIsolationLevel('repeatable read').execute((trx) => verifyAuditChain(trx, batchSize));
  batchSize = Math.max(1, Math.floor(batchSize));
  const head = await readAuditChainHead(db);
  let previousHash = genesisHash;
  let lastId = '0';
  let afterId: string | null = null;
  let checked = 0;
  let pastHead = head.lastId === null;
  for (;;) {
    const rows = await auditEventsAfter(db, afterId, batchSize);
    for (const { prev_hash: prevHash, hash, ...fields } of rows) {
      if (pastHead) return { ok: false, checked, id: fields.id, problem: 'head_mismatch' };
      if (prevHash !== previousHash) return { ok: false, checked, id: fields.id, problem: 'broken_link' };
      if (chainHash(prevHash, fields) !== hash) return { ok: false, checked, id: fields.id, problem: 'changed' };
      previousHash = hash;
      lastId = fields.id;
      checked += 1;
      if (fields.id === head.lastId) {
        if (!headMatches(head, previousHash, checked)) return { ok: false, checked, id: lastId, problem: 'head_mismatch' };
        pastHead = true;
      }
    }
    if (rows.length < batchSize) {
      return pastHead && headMatches(head, previousHash, checked) ? { ok: true, checked } : { ok: false, checked, id: lastId, problem: 'head_mismatch' };
    }
    afterId = rows[rows.length - 1]!.id;
  }
}
