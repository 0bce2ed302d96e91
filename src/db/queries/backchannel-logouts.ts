import { sql, type Kysely } from 'kysely';

import type { Database } from '../schema.ts';

export interface NewBackchannelLogout {
  readonly clientId: string;
  readonly accountId: string;
  readonly sid: string;
}

/** Queues the calls; answers their ids in the order given. */
export async function insertBackchannelLogouts(db: Kysely<Database>, logouts: readonly NewBackchannelLogout[]): Promise<string[]> {
  if (logouts.length === 0) return [];
  const rows = await db
    .insertInto('backchannel_logouts')
    .values(logouts.map((logout) => ({ client_id: logout.clientId, account_id: logout.accountId, sid: logout.sid })))
    .returning('id')
    .execute();
  return rows.map((row) => row.id);
}

export type BackchannelLogoutStatus = 'sent' | 'pending' | 'failed';

export interface BackchannelLogoutRecord {
  readonly id: string;
  readonly clientId: string;
  readonly accountId: string;
  readonly sid: string;
  /** Sent; still to be tried, or being tried now; or given up after every attempt failed. */
  readonly status: BackchannelLogoutStatus;
  readonly attempts: number;
  readonly createdAt: Date;
  readonly sentAt: Date | null;
  readonly nextAttemptAt: Date | null;
  readonly lastError: string | null;
}

/** The back-channel logout calls made for an account (or to a client), newest first: what the admin console shows. */
export async function listBackchannelLogouts(
  db: Kysely<Database>,
  filter: { accountId?: string; clientId?: string; limit?: number },
  maxAttempts: number,
): Promise<BackchannelLogoutRecord[]> {
  let query = db
    .selectFrom('backchannel_logouts')
    .select([
      'id', 'client_id', 'account_id', 'sid', 'attempts', 'created_at', 'sent_at', 'next_attempt_at', 'last_error',
      sql<BackchannelLogoutStatus>`case when sent_at is not null then 'sent' when attempts >= ${maxAttempts} and next_attempt_at <= now() then 'failed' else 'pending' end`.as('status'),
    ])
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(filter.limit ?? 100);
  if (filter.accountId !== undefined) query = query.where('account_id', '=', filter.accountId);
  if (filter.clientId !== undefined) query = query.where('client_id', '=', filter.clientId);
  return (await query.execute()).map((row) => ({
    id: row.id,
    clientId: row.client_id,
    accountId: row.account_id,
    sid: row.sid,
    status: row.status,
    attempts: row.attempts,
    createdAt: row.created_at,
    sentAt: row.sent_at,
    nextAttemptAt: row.status === 'pending' ? row.next_attempt_at : null,
    lastError: row.last_error,
  }));
}

/** Forgets the calls made (sent, or given up) before `before`: the record is kept for a while, not for ever. */
export async function deleteSettledBackchannelLogouts(db: Kysely<Database>, before: Date, maxAttempts: number): Promise<number> {
  const result = await db
    .deleteFrom('backchannel_logouts')
    .where('created_at', '<', before)
    .where((eb) => eb.or([eb('sent_at', 'is not', null), eb('attempts', '>=', maxAttempts)]))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
