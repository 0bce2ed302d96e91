import { createHash } from 'node:crypto';

import type { Kysely } from 'kysely';

import {
  auditEventsAfter,
  insertAuditEvent,
  lastAuditHash,
  lockAuditChain,
  nextAuditEventId,
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

export interface AuditRecord {
  readonly actor: Actor;
  readonly origin: RequestOrigin;
  /** A dotted verb, stable for filters: "user.create", "login.failure", "role.grant". */
  readonly action: string;
  readonly outcome?: AuditOutcome;
  readonly target?: { readonly type: string; readonly id: string } | undefined;
  /** The unit the event concerns, so that an auditor of a subtree sees it. */
  readonly orgUnitId?: string | null | undefined;
  readonly before?: object | null | undefined;
  readonly after?: object | null | undefined;
  readonly details?: object | null | undefined;
}

export const genesisHash = '0'.repeat(64);

/**
 * Appends one event to the hash chain. Called with the transaction that makes the change, so the
 * change and its record commit together or not at all; called with the plain database, it opens
 * its own transaction. Writers queue on one advisory lock, which keeps ids in chain order.
 */
export async function recordAuditEvent(db: Kysely<Database>, record: AuditRecord): Promise<void> {
  if (!db.isTransaction) {
    await db.transaction().execute((trx) => recordAuditEvent(trx, record));
    return;
  }
  await lockAuditChain(db);
  const prevHash = (await lastAuditHash(db)) ?? genesisHash;
  const row: ChainedFields = {
    id: await nextAuditEventId(db),
    occurred_at: new Date(),
    actor_type: record.actor.type,
    actor_id: record.actor.id,
    actor_name: record.actor.name,
    action: record.action,
    outcome: record.outcome ?? 'success',
    target_type: record.target?.type ?? null,
    target_id: record.target?.id ?? null,
    org_unit_id: record.orgUnitId ?? null,
    before: asJson(record.before),
    after: asJson(record.after),
    details: asJson(record.details),
    ip: record.origin.ip,
    user_agent: record.origin.userAgent,
    request_id: record.origin.requestId,
  };
  await insertAuditEvent(db, { ...row, prev_hash: prevHash, hash: chainHash(prevHash, row) });
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

/** What jsonb will give back: plain JSON values (dates as strings, no undefined). */
function asJson(value: object | null | undefined): Record<string, unknown> | null {
  if (value === undefined || value === null) return null;
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, v]) => `${JSON.stringify(key)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
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
       */
      readonly problem: 'changed' | 'broken_link';
    };

/** Walks the whole chain in id order and names the first row that was changed, removed or inserted. */
export async function verifyAuditChain(db: Kysely<Database>, batchSize = 2000): Promise<AuditChainReport> {
  let previousHash = genesisHash;
  let afterId: string | null = null;
  let checked = 0;
  for (;;) {
    const rows = await auditEventsAfter(db, afterId, batchSize);
    for (const { prev_hash: prevHash, hash, ...fields } of rows) {
      if (prevHash !== previousHash) return { ok: false, checked, id: fields.id, problem: 'broken_link' };
      if (chainHash(prevHash, fields) !== hash) return { ok: false, checked, id: fields.id, problem: 'changed' };
      previousHash = hash;
      checked += 1;
    }
    if (rows.length < batchSize) return { ok: true, checked };
    afterId = rows[rows.length - 1]!.id;
  }
}
