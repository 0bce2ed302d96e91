import { sql, type Kysely } from 'kysely';

import type { AccountTokenPurpose, Database } from '../schema.ts';

export interface NewAccountToken {
  readonly user_id: string;
  readonly purpose: AccountTokenPurpose;
  readonly token_hash: string;
  readonly expires_at: Date;
}

/** Many tokens in one statement (arrays through unnest, a bulk import issues thousands). */
export async function insertAccountTokens(trx: Kysely<Database>, tokens: readonly NewAccountToken[]): Promise<void> {
  if (tokens.length === 0) return;
  await sql`insert into account_tokens (user_id, purpose, token_hash, expires_at)
    select * from unnest(
      ${tokens.map((token) => token.user_id)}::uuid[], ${tokens.map((token) => token.purpose)}::text[],
      ${tokens.map((token) => token.token_hash)}::text[], ${tokens.map((token) => token.expires_at.toISOString())}::timestamptz[]
    )`.execute(trx);
}

/** Drops the users' tokens of this purpose that were never used, so that only the newest one works. */
export async function deleteUnusedAccountTokens(
  trx: Kysely<Database>,
  purpose: AccountTokenPurpose,
  userIds: readonly string[],
): Promise<void> {
  if (userIds.length === 0) return;
  await trx
    .deleteFrom('account_tokens')
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where(sql<boolean>`user_id = any(${userIds}::uuid[])`)
    .execute();
}

/**
 * Marks a token used if it is unused and unexpired, in one conditional statement, so that two
 * racing redeemers cannot both win. Answers the token's user, or undefined.
 */
export async function consumeAccountToken(
  db: Kysely<Database>,
  purpose: AccountTokenPurpose,
  tokenHash: string,
): Promise<string | undefined> {
  const row = await db
    .updateTable('account_tokens')
    .set({ used_at: sql<Date>`now()` })
    .where('token_hash', '=', tokenHash)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .returning('user_id')
    .executeTakeFirst();
  return row?.user_id;
}

/** The user a token would redeem for, without spending it (to show the form it opens). */
export async function findRedeemableAccountToken(
  db: Kysely<Database>,
  purpose: AccountTokenPurpose,
  tokenHash: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('account_tokens')
    .select('user_id')
    .where('token_hash', '=', tokenHash)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst();
  return row?.user_id;
}

/** Whether this person was sent a token of this purpose after `since` that is still unused. */
export async function hasRecentUnusedAccountToken(db: Kysely<Database>, purpose: AccountTokenPurpose, userId: string, since: Date): Promise<boolean> {
  const row = await db
    .selectFrom('account_tokens')
    .select('id')
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('created_at', '>', since)
    .executeTakeFirst();
  return row !== undefined;
}
