import { sql, type Kysely } from 'kysely';

import type { ContactChange, ContactKind, Database } from '../schema.ts';

export interface NewContactChange {
  readonly id: string;
  readonly user_id: string;
  readonly kind: ContactKind;
  readonly new_value: string;
  readonly secret_hash: string;
  readonly expires_at: Date;
}

/** A new pending change; the person's older unused one of the same kind stops working. */
export async function replaceContactChange(trx: Kysely<Database>, change: NewContactChange): Promise<void> {
  await trx.deleteFrom('contact_changes')
    .where('user_id', '=', change.user_id).where('kind', '=', change.kind).where('used_at', 'is', null)
    .execute();
  await trx.insertInto('contact_changes').values(change).execute();
}

/** A mailed link's change, unused and unexpired; locked when given a transaction that spends it. */
export async function findRedeemableContactChange(
  db: Kysely<Database>,
  kind: ContactKind,
  secretHash: string,
  options: { lock?: boolean } = {},
): Promise<ContactChange | undefined> {
  const query = db.selectFrom('contact_changes').selectAll()
    .where('secret_hash', '=', secretHash).where('kind', '=', kind)
    .where('used_at', 'is', null).where('expires_at', '>', sql<Date>`now()`);
  return (options.lock ? query.forUpdate() : query).executeTakeFirst();
}

/** The person's pending change of this kind, unused and unexpired; locked when given a transaction that spends it. */
export async function findPendingContactChange(
  db: Kysely<Database>,
  userId: string,
  kind: ContactKind,
  options: { lock?: boolean } = {},
): Promise<ContactChange | undefined> {
  const query = db.selectFrom('contact_changes').selectAll()
    .where('user_id', '=', userId).where('kind', '=', kind)
    .where('used_at', 'is', null).where('expires_at', '>', sql<Date>`now()`)
    .orderBy('created_at', 'desc')
    .limit(1);
  return (options.lock ? query.forUpdate() : query).executeTakeFirst();
}

/** When the person last asked for a change of this kind, spent or not: the resend limit counts from it. */
export async function lastContactChangeRequest(db: Kysely<Database>, userId: string, kind: ContactKind): Promise<Date | undefined> {
  const row = await db.selectFrom('contact_changes').select('created_at')
    .where('user_id', '=', userId).where('kind', '=', kind)
    .orderBy('created_at', 'desc').limit(1)
    .executeTakeFirst();
  return row?.created_at;
}

export async function markContactChangeUsed(trx: Kysely<Database>, id: string): Promise<void> {
  await trx.updateTable('contact_changes').set({ used_at: sql<Date>`now()` }).where('id', '=', id).execute();
}

/** Counts a wrong code; the change stops working (used, without effect) at the last try allowed. */
export async function countWrongContactCode(trx: Kysely<Database>, id: string, maxAttempts: number): Promise<number> {
  const row = await trx.updateTable('contact_changes')
    .set({
      attempts: sql<number>`attempts + 1`,
      used_at: sql<Date | null>`case when attempts + 1 >= ${maxAttempts} then now() else used_at end`,
    })
    .where('id', '=', id)
    .returning('attempts')
    .executeTakeFirstOrThrow();
  return row.attempts;
}

/** Drops changes that can no longer be spent, a day after they stopped working. */
export async function deleteStaleContactChanges(db: Kysely<Database>): Promise<number> {
  const result = await db.deleteFrom('contact_changes')
    .where(sql<boolean>`coalesce(used_at, expires_at) < now() - interval '1 day'`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Whether another person already has this address (compared without case, like the unique index). */
export async function emailTakenByOther(db: Kysely<Database>, email: string, userId: string): Promise<boolean> {
  const row = await db.selectFrom('users').select('id')
    .where(sql<boolean>`lower(email) = lower(${email})`).where('id', '<>', userId)
    .executeTakeFirst();
  return row !== undefined;
}
