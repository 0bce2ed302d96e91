import { sql, type Kysely } from 'kysely';

import type { AccountTokenPurpose, Database } from '../schema.ts';

export interface NewAccountToken {
  readonly user_id: string;
  readonly purpose: AccountTokenPurpose;
  readonly token_hash: string;
  readonly expires_at: Date;
}

export async function insertAccountTokens(trx: Kysely<Database>, tokens: readonly NewAccountToken[]): Promise<void> {
  if (tokens.length === 0) return;
  await trx.insertInto('account_tokens').values(tokens.map((token) => ({ ...token }))).execute();
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
