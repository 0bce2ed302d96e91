import { sql, type Kysely, type Selectable } from 'kysely';

import type { Database } from '../schema.ts';

/**
 * The tables that queue something to send to the outside world (mail, back-channel logout calls):
 * each has `attempts`, `next_attempt_at`, `sent_at` and `last_error`, and these queries lease, settle
 * and back off their rows the same way.
 */
export type DeliveryQueue = 'mail_outbox' | 'backchannel_logouts';

export interface QueueLimits {
  readonly batchSize: number;
  /** How long a claimed row is left to the node that claimed it before another may try it. */
  readonly leaseSeconds: number;
  readonly maxAttempts: number;
}

/**
 * Takes up to `batchSize` due rows for sending: their next attempt moves `leaseSeconds` ahead and
 * their attempt count up, in one statement that skips rows another node is taking at the same
 * moment. A node that dies mid-send leaves the row to be retried when the lease runs out.
 */
export async function claimDueDeliveries<Q extends DeliveryQueue>(db: Kysely<Database>, queue: Q, limits: QueueLimits): Promise<Selectable<Database[Q]>[]> {
  const { rows } = await sql<Selectable<Database[Q]>>`
    update ${sql.table(queue)} set attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => ${limits.leaseSeconds})
    where id in (
      select id from ${sql.table(queue)}
      where sent_at is null and next_attempt_at <= now() and attempts < ${limits.maxAttempts}
      order by next_attempt_at
      limit ${limits.batchSize}
      for update skip locked
    )
    returning *`.execute(db);
  return rows;
}

export async function markDeliverySent(db: Kysely<Database>, queue: DeliveryQueue, id: string): Promise<void> {
  await sql`update ${sql.table(queue)} set sent_at = now(), last_error = null where id = ${id}`.execute(db);
}

/** Records the error; the row is tried again after `retryAfterSeconds`, unless it has had all its attempts. */
export async function markDeliveryFailed(db: Kysely<Database>, queue: DeliveryQueue, id: string, error: string, retryAfterSeconds: number): Promise<void> {
  await sql`update ${sql.table(queue)}
    set last_error = ${error.slice(0, 1000)}, next_attempt_at = now() + make_interval(secs => ${retryAfterSeconds})
    where id = ${id}`.execute(db);
}
