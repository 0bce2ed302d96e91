import { sql, type Kysely } from 'kysely';

import { preparedStatement } from '../prepared-statements.ts';
import type { Database } from '../schema.ts';
import { accountColumns, type AccountUser } from './users.ts';

/**
 * Storage for oidc-provider's artifacts (sessions, codes, tokens, grants, interactions, …).
 *
 * The statements every sign-in and token request makes (find, upsert, consume, destroy) are written
 * as SQL templates rather than built: building and compiling them with the query builder was a tenth
 * of the server's time on refresh and sign-in (CPU profile, issue 6), and they never vary in shape.
 * So PostgreSQL plans them once per connection too (preparedStatement).
 */

export interface StoredPayload {
  payload: Record<string, unknown>;
  consumedAt: Date | null;
}

export interface PayloadRow {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  grantId: string | null;
  userCode: string | null;
  uid: string | null;
  expiresAt: Date | null;
  accountId: string | null;
}

export async function upsertPayload(db: Kysely<Database>, row: PayloadRow): Promise<void> {
  await sql`
    insert into oidc_payloads (model, id, payload, grant_id, user_code, uid, expires_at, consumed_at, account_id)
    values (${row.model}, ${row.id}, ${row.payload}, ${row.grantId}, ${row.userCode}, ${row.uid}, ${row.expiresAt}, null, ${row.accountId})
    on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code,
      uid = excluded.uid, expires_at = excluded.expires_at, account_id = excluded.account_id${preparedStatement}`.execute(db);
}

/**
 * Stores a payload only when none with its id is stored yet (an expired one counts as absent, and
 * is replaced): true when this call stored it. Concurrent callers with the same id race on the
 * primary key, so exactly one of them wins. What single-use ids (a JWT's jti) are checked with.
 */
export async function insertPayloadIfAbsent(db: Kysely<Database>, row: Pick<PayloadRow, 'model' | 'id' | 'payload' | 'expiresAt'>): Promise<boolean> {
  const stored = await db
    .insertInto('oidc_payloads')
    .values({ model: row.model, id: row.id, payload: row.payload, grant_id: null, user_code: null, uid: null, expires_at: row.expiresAt, consumed_at: null, account_id: null })
    .onConflict((oc) =>
      oc.columns(['model', 'id']).doUpdateSet((eb) => ({ payload: eb.ref('excluded.payload'), expires_at: eb.ref('excluded.expires_at') }))
        .where('oidc_payloads.expires_at', '<=', sql<Date>`now()`),
    )
    .returning('id')
    .executeTakeFirst();
  return stored !== undefined;
}

/** Not expired: no expiry, or one still ahead. */
const live = (table: string) => sql<boolean>`(${sql.ref(`${table}.expires_at`)} is null or ${sql.ref(`${table}.expires_at`)} > now())`;

type PayloadKey = { model: string } & ({ id: string } | { uid: string } | { userCode: string });

/** A payload as the adapter finds it, with the person it names (see FoundToken). */
export interface FoundPayload extends StoredPayload {
  /** The person the payload names (its accountId), whatever their status; undefined when it names none or no one. */
  readonly account: AccountUser | undefined;
}

/** The person whose id an artifact's account_id holds, as one JSON column; the join is `accountJoin`. */
const accountObject = sql<AccountUser | null>`case when account.id is null then null else json_build_object(${sql.join(
  accountColumns.map((column) => sql`${sql.lit(column)}, ${sql.ref(`account.${column}`)}`))}) end`;
// account_id is text (any model may carry one); only a user id can name a person.
const accountJoin = (table: string) => sql`left join users as account on account.id =
  case when ${sql.ref(`${table}.account_id`)} ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then ${sql.ref(`${table}.account_id`)}::uuid end`;
// JSON has no instants: updated_at comes back as its ISO text.
const toAccount = (account: AccountUser | null): AccountUser | undefined => (account === null ? undefined : { ...account, updated_at: new Date(account.updated_at) });

/**
 * Finds a live (unexpired) payload; expired rows are invisible even before the sweep removes them,
 * unless the caller asks for them (`includeExpired`) to tell "expired" from "unknown" itself. The
 * person it names comes along: a session's or a code's is what oidc-provider asks for next.
 */
export async function findPayload(db: Kysely<Database>, key: PayloadKey, options: { includeExpired?: boolean } = {}): Promise<FoundPayload | undefined> {
  const by = 'id' in key ? sql`artifact.id = ${key.id}` : 'uid' in key ? sql`artifact.uid = ${key.uid}` : sql`artifact.user_code = ${key.userCode}`;
  const { rows: [row] } = await sql<{ payload: Record<string, unknown>; consumed_at: Date | null; account: AccountUser | null }>`
    select artifact.payload, artifact.consumed_at, ${accountObject} as account
    from oidc_payloads as artifact ${accountJoin('artifact')}
    where artifact.model = ${key.model} and ${by} and ${options.includeExpired ? sql`true` : live('artifact')}${preparedStatement}`.execute(db);
  return row && { payload: row.payload, consumedAt: row.consumed_at, account: toAccount(row.account) };
}

/** A token as findTokenWithGrant finds it: the payload, and the grant it names as it stood in the same snapshot. */
export interface FoundToken extends FoundPayload {
  /** The live grant the payload names; undefined when it names none or it is gone (revoked, expired). */
  readonly grant: StoredPayload | undefined;
}

/**
 * The live payloads stored under one id in any of `models`, by model, each with the live grant it
 * names and the person it names: one query where the caller would make one per model, another for
 * the grant and another for the person.
 */
export async function findTokensWithGrant(db: Kysely<Database>, models: readonly string[], id: string): Promise<Map<string, FoundToken>> {
  const { rows } = await sql<{ model: string; payload: Record<string, unknown>; consumed_at: Date | null; grant_payload: Record<string, unknown> | null; account: AccountUser | null }>`
    select token.model, token.payload, token.consumed_at, "grant".payload as grant_payload,
      ${accountObject} as account
    from oidc_payloads as token
    left join oidc_payloads as "grant" on "grant".model = 'Grant' and "grant".id = token.grant_id and ${live('grant')}
    ${accountJoin('token')}
    where token.model in (${sql.join(models)}) and token.id = ${id} and ${live('token')}${preparedStatement}`.execute(db);
  return new Map(rows.map((row) => [row.model, {
    payload: row.payload,
    consumedAt: row.consumed_at,
    grant: row.grant_payload === null ? undefined : { payload: row.grant_payload, consumedAt: null },
    account: toAccount(row.account),
  }]));
}

/**
 * Marks a single-use artifact (a code, a rotated refresh token) used, atomically: of two requests
 * racing to use the same one, exactly one gets `consumed: true`. The loser learns the grant, so the
 * caller can treat the race as the replay it is.
 */
export async function consumePayload(
  db: Kysely<Database>,
  model: string,
  id: string,
): Promise<{ consumed: true } | { consumed: false; grantId: string | null }> {
  const { rows: won } = await sql`update oidc_payloads set consumed_at = now() where model = ${model} and id = ${id} and consumed_at is null returning id${preparedStatement}`.execute(db);
  if (won.length > 0) return { consumed: true };
  const existing = await db
    .selectFrom('oidc_payloads')
    .select('grant_id')
    .where('model', '=', model)
    .where('id', '=', id)
    .executeTakeFirst();
  return { consumed: false, grantId: existing?.grant_id ?? null };
}

export async function destroyPayload(db: Kysely<Database>, model: string, id: string): Promise<void> {
  await sql`delete from oidc_payloads where model = ${model} and id = ${id}${preparedStatement}`.execute(db);
}

/** Revokes every artifact of a grant, across models: tokens and codes die together. */
export async function destroyPayloadsOfGrant(db: Kysely<Database>, grantId: string): Promise<void> {
  await db.deleteFrom('oidc_payloads').where('grant_id', '=', grantId).execute();
}

/** The live sessions of a person, with what oidc-provider stored in each (its `authorizations` per client). */
export async function findSessionsOfAccount(db: Kysely<Database>, accountId: string): Promise<Record<string, unknown>[]> {
  const rows = await db
    .selectFrom('oidc_payloads')
    .select('payload')
    .where('model', '=', 'Session')
    .where('account_id', '=', accountId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .execute();
  return rows.map((row) => row.payload);
}

/**
 * Ends everything a person holds: sessions, grants, codes, access and refresh tokens, and anything
 * else tied to one of their grants. Returns how many artifacts were removed.
 */
export async function destroyPayloadsOfAccount(db: Kysely<Database>, accountId: string): Promise<number> {
  const result = await db
    .deleteFrom('oidc_payloads')
    .where((eb) =>
      eb.or([
        eb('account_id', '=', accountId),
        eb('grant_id', 'in', eb.selectFrom('oidc_payloads as grants').select('grants.id')
          .where('grants.model', '=', 'Grant').where('grants.account_id', '=', accountId)),
      ]),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function deleteExpiredPayloads(db: Kysely<Database>, batchSize = 5000): Promise<number> {
  // Batched so that a backlog after downtime never becomes one long lock-holding delete.
  let total = 0;
  for (;;) {
    const result = await db
      .deleteFrom('oidc_payloads')
      .where((eb) =>
        eb(
          sql`(model, id)`,
          'in',
          eb.selectFrom('oidc_payloads')
            .select(['model', 'id'])
            .where('expires_at', '<', sql<Date>`now()`)
            .limit(batchSize),
        ),
      )
      .executeTakeFirst();
    const deleted = Number(result.numDeletedRows);
    total += deleted;
    if (deleted < batchSize) return total;
  }
}

/**
 * Ends some of a person's sessions and everything issued through them: the grants their
 * authorizations name, and every code and token of those grants. Returns how many artifacts went.
 */
export async function destroySessionsOfAccount(db: Kysely<Database>, accountId: string, sessionUids: readonly string[], grantIds: readonly string[]): Promise<number> {
  if (sessionUids.length === 0) return 0;
  const result = await db
    .deleteFrom('oidc_payloads')
    .where((eb) =>
      eb.or([
        eb.and([eb('model', '=', 'Session'), eb('account_id', '=', accountId), eb('uid', 'in', sessionUids)]),
        ...(grantIds.length === 0 ? [] : [
          eb('grant_id', 'in', grantIds),
          eb.and([eb('model', '=', 'Grant'), eb('account_id', '=', accountId), eb('id', 'in', grantIds)]),
        ]),
      ]),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** A live session by its uid (the id apps and the account console know it by, not its cookie value). */
export async function findLiveSessionByUid(db: Kysely<Database>, uid: string): Promise<Record<string, unknown> | undefined> {
  const row = await db
    .selectFrom('oidc_payloads')
    .select('payload')
    .where('model', '=', 'Session')
    .where('uid', '=', uid)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .executeTakeFirst();
  return row?.payload;
}

/**
 * The apps a person has granted access to: their grants, one row per grant (an app may have
 * several, from sessions on several devices).
 */
export async function findGrantsOfAccount(db: Kysely<Database>, accountId: string): Promise<Record<string, unknown>[]> {
  const rows = await db
    .selectFrom('oidc_payloads')
    .select('payload')
    .where('model', '=', 'Grant')
    .where('account_id', '=', accountId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .execute();
  return rows.map((row) => row.payload);
}

/** Revokes a person's grants to one app and every code and token issued under them; answers how many artifacts went. */
export async function destroyGrantsOfClient(db: Kysely<Database>, accountId: string, clientId: string): Promise<number> {
  const grants = db
    .selectFrom('oidc_payloads as grants')
    .select('grants.id')
    .where('grants.model', '=', 'Grant')
    .where('grants.account_id', '=', accountId)
    .where(sql<string>`grants.payload->>'clientId'`, '=', clientId);
  const result = await db
    .deleteFrom('oidc_payloads')
    .where((eb) => eb.or([eb('grant_id', 'in', grants), eb.and([eb('model', '=', 'Grant'), eb('id', 'in', grants)])]))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
