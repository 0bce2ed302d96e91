import { sql, type Kysely } from 'kysely';

import { preparedStatement } from '../prepared-statements.ts';
import type { Database, FactorKind, UserFactor } from '../schema.ts';
import { isUuid } from './ids.ts';

/** Every column of a factor, named, so that the sign-in's read of them can be prepared (see userColumns in users.ts). */
const factorColumns = [
  'id', 'user_id', 'kind', 'name', 'totp_secret_sealed', 'totp_last_step', 'credential_id', 'public_key', 'sign_count', 'transports',
  'confirmed_at', 'last_used_at', 'created_at',
] as const satisfies readonly (keyof UserFactor)[];

/** A person's confirmed factors, oldest first. Every sign-in asks: prepared. */
export async function findConfirmedFactors(db: Kysely<Database>, userId: string): Promise<UserFactor[]> {
  return db
    .selectFrom('user_factors')
    .select(factorColumns)
    .where('user_id', '=', userId)
    .where('confirmed_at', 'is not', null)
    .orderBy('created_at')
    .modifyEnd(preparedStatement)
    .execute();
}

export async function findFactor(db: Kysely<Database>, userId: string, factorId: string): Promise<UserFactor | undefined> {
  if (!isUuid(factorId)) return undefined;
  return db.selectFrom('user_factors').selectAll().where('id', '=', factorId).where('user_id', '=', userId).executeTakeFirst();
}

export async function insertTotpFactor(
  db: Kysely<Database>,
  factor: { id: string; userId: string; name: string; secretSealed: string },
): Promise<void> {
  // One enrolment at a time: an unconfirmed one left behind by an abandoned page goes.
  await db.deleteFrom('user_factors').where('user_id', '=', factor.userId).where('kind', '=', 'totp').where('confirmed_at', 'is', null).execute();
  await db.insertInto('user_factors')
    .values({ id: factor.id, user_id: factor.userId, kind: 'totp', name: factor.name, totp_secret_sealed: factor.secretSealed })
    .execute();
}

/**
 * Accepts a TOTP time step for a factor only if it is later than the last one accepted, in one
 * statement, so two requests racing with the same code cannot both pass. Confirms the factor too.
 */
export async function acceptTotpStep(db: Kysely<Database>, factorId: string, step: number): Promise<boolean> {
  const result = await db
    .updateTable('user_factors')
    .set({ totp_last_step: step, last_used_at: sql`now()`, confirmed_at: sql`coalesce(confirmed_at, now())` })
    .where('id', '=', factorId)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', String(step))]))
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

export async function insertWebAuthnFactor(
  db: Kysely<Database>,
  factor: { userId: string; name: string; credentialId: string; publicKey: string; signCount: number; transports: readonly string[] },
): Promise<string> {
  const { id } = await db.insertInto('user_factors')
    .values({
      user_id: factor.userId, kind: 'webauthn', name: factor.name, credential_id: factor.credentialId,
      public_key: factor.publicKey, sign_count: factor.signCount, transports: JSON.stringify(factor.transports), confirmed_at: sql`now()`,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return id;
}

export async function findWebAuthnFactorByCredentialId(db: Kysely<Database>, credentialId: string): Promise<UserFactor | undefined> {
  return db.selectFrom('user_factors').selectAll().where('credential_id', '=', credentialId).where('kind', '=', 'webauthn').executeTakeFirst();
}

/**
 * Records a passkey's use. The counter must grow when the authenticator keeps one (a copied key
 * would fall behind); authenticators that always send 0 (synced passkeys) are left at 0.
 */
export async function acceptWebAuthnCounter(db: Kysely<Database>, factorId: string, signCount: number): Promise<boolean> {
  const result = await db
    .updateTable('user_factors')
    .set({ sign_count: signCount, last_used_at: sql`now()` })
    .where('id', '=', factorId)
    .where('sign_count', signCount === 0 ? '=' : '<', signCount === 0 ? '0' : String(signCount))
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

export async function renameFactor(db: Kysely<Database>, userId: string, factorId: string, name: string): Promise<boolean> {
  if (!isUuid(factorId)) return false;
  const result = await db.updateTable('user_factors').set({ name }).where('id', '=', factorId).where('user_id', '=', userId).executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

export async function deleteFactor(db: Kysely<Database>, userId: string, factorId: string): Promise<UserFactor | undefined> {
  if (!isUuid(factorId)) return undefined;
  return db.deleteFrom('user_factors').where('id', '=', factorId).where('user_id', '=', userId).returningAll().executeTakeFirst();
}

/** Every factor and recovery code of a person; answers how many factors there were. */
export async function deleteAllFactors(db: Kysely<Database>, userId: string): Promise<{ kind: FactorKind; name: string }[]> {
  await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  return db.deleteFrom('user_factors').where('user_id', '=', userId).where('confirmed_at', 'is not', null).returning(['kind', 'name']).execute();
}

export async function replaceRecoveryCodes(db: Kysely<Database>, userId: string, codeHashes: readonly string[]): Promise<void> {
  await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  await db.insertInto('recovery_codes').values(codeHashes.map((code_hash) => ({ user_id: userId, code_hash }))).execute();
}

/** Spends a recovery code of this person in one statement; false if it is not theirs or already used. */
export async function consumeRecoveryCode(db: Kysely<Database>, userId: string, codeHash: string): Promise<boolean> {
  const result = await db
    .updateTable('recovery_codes')
    .set({ used_at: sql`now()` })
    .where('user_id', '=', userId)
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

export async function countUnusedRecoveryCodes(db: Kysely<Database>, userId: string): Promise<number> {
  const { count } = await db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(count);
}

/**
 * Whether any unit this person belongs to (primary or concurrent post) lies in the subtree of a
 * unit that requires a second factor: one index-backed prefix match per membership.
 */
export async function orgPolicyRequiresSecondFactor(db: Kysely<Database>, userId: string): Promise<boolean> {
  const row = await sql<{ required: boolean }>`
    select exists (
      select 1
      from org_units mine
      join org_units requiring on requiring.mfa_required and mine.path like requiring.path || '%'
      where mine.id in (
        select primary_org_unit_id from users where id = ${userId} and primary_org_unit_id is not null
        union all
        select org_unit_id from user_org_units where user_id = ${userId}
      )
    ) as required${preparedStatement}`.execute(db);
  return row.rows[0]?.required === true;
}
