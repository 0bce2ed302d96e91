import { sql, type Kysely, type Selectable } from 'kysely';

import type {
  Database, DirectoryMergeCandidatesTable, DirectoryMergeRowsTable, DuplicateRule, User,
} from '../schema.ts';

/** The directory merge's SQL (domain/directory-merge.ts): duplicate detection, staging, the merge itself, subject aliases. */

export type StagedRow = Selectable<DirectoryMergeRowsTable>;
export type MergeCandidate = Selectable<DirectoryMergeCandidatesTable>;

/** What a person is recognised by, for duplicate detection; `index` ties each match to its probe. */
export interface DuplicateProbe {
  readonly index: number;
  readonly nationalId: string | null;
  readonly email: string | null;
  readonly phone: string | null;
  readonly fullName: string;
  readonly orgUnitId: string | null;
  /** The account the probe is about, never its own duplicate. */
  readonly excludeUserId: string | null;
}

export interface DuplicateMatch {
  readonly index: number;
  readonly userId: string;
  readonly rule: Exclude<DuplicateRule, 'named_by_admin'>;
}

/**
 * Every account that looks like one of the probes, each with the first rule it matches, in the
 * order national ID, email (without case), phone (E.164, as stored), then name without diacritics
 * (mekong_search_key, the search's own fold) in the same primary unit. Merged accounts are history
 * and never match. One statement for the whole list of probes.
 */
export async function findDuplicates(db: Kysely<Database>, probes: readonly DuplicateProbe[]): Promise<DuplicateMatch[]> {
  if (probes.length === 0) return [];
  const column = <K extends keyof DuplicateProbe>(key: K) => probes.map((probe) => probe[key]);
  // One equality join per rule, each able to use its index or a hash join (an OR of the four could
  // only compare every probe with every account), then the first rule per pair.
  const { rows } = await sql<{ index: number; user_id: string; rule: DuplicateMatch['rule'] }>`
    with p as (
      select * from unnest(
        ${column('index')}::int[], ${column('nationalId')}::text[], ${column('email')}::text[], ${column('phone')}::text[],
        ${column('fullName')}::text[], ${column('orgUnitId')}::uuid[], ${column('excludeUserId')}::uuid[]
      ) as p(index, national_id, email, phone, full_name, org_unit_id, exclude_user_id)
    ), matched as (
      select p.index, u.id, 1 as rank from p join users u on u.national_id = p.national_id
      union all
      select p.index, u.id, 2 from p join users u on lower(u.email) = lower(p.email)
      union all
      select p.index, u.id, 3 from p join users u on u.phone = p.phone
      union all
      select p.index, u.id, 4 from p join users u
        on u.primary_org_unit_id = p.org_unit_id and mekong_search_key(u.full_name) = mekong_search_key(p.full_name)
    )
    select m.index, u.id::text as user_id, (array['national_id', 'email', 'phone', 'name_and_unit'])[min(m.rank)] as rule
    from matched m
    join p on p.index = m.index
    join users u on u.id = m.id
    where u.status <> 'merged' and u.id is distinct from p.exclude_user_id
    group by m.index, u.id, u.username
    order by m.index, min(m.rank), u.username`.execute(db);
  return rows.map((row) => ({ index: row.index, userId: row.user_id, rule: row.rule }));
}

export async function insertMergeBatch(
  trx: Kysely<Database>,
  batch: { sourceCode: string; fileName: string | null; stagedBy: string; report: Record<string, unknown> },
): Promise<string> {
  const row = await trx.insertInto('directory_merge_batches')
    .values({ source_code: batch.sourceCode, file_name: batch.fileName, staged_by: batch.stagedBy, report: JSON.stringify(batch.report) as never })
    .returning('id').executeTakeFirstOrThrow();
  return row.id;
}

export async function setMergeBatchReport(trx: Kysely<Database>, batchId: string, report: Record<string, unknown>): Promise<void> {
  await trx.updateTable('directory_merge_batches').set({ report: JSON.stringify(report) as never }).where('id', '=', batchId).execute();
}

export async function insertStagedRows(
  trx: Kysely<Database>,
  rows: readonly Omit<StagedRow, 'id'>[],
): Promise<StagedRow[]> {
  if (rows.length === 0) return [];
  return trx.insertInto('directory_merge_rows')
    .values(rows.map((row) => ({ ...row, values: JSON.stringify(row.values) as never })))
    .returningAll().execute();
}

export async function findStagedRowForUpdate(trx: Kysely<Database>, id: string): Promise<StagedRow | undefined> {
  return trx.selectFrom('directory_merge_rows').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function settleStagedRow(
  trx: Kysely<Database>,
  id: string,
  outcome: { status: 'created' | 'merged'; userId: string; username?: string | null; renamedFrom?: string | null },
): Promise<void> {
  await trx.updateTable('directory_merge_rows')
    .set({
      status: outcome.status, user_id: outcome.userId,
      ...(outcome.username === undefined ? {} : { username: outcome.username }),
      ...(outcome.renamedFrom === undefined ? {} : { renamed_from: outcome.renamedFrom }),
    })
    .where('id', '=', id).execute();
}

export async function insertCandidates(
  trx: Kysely<Database>,
  candidates: readonly { stagedRowId: string | null; mergedUserId: string | null; survivorId: string; rule: DuplicateRule; createdBy: string }[],
): Promise<MergeCandidate[]> {
  if (candidates.length === 0) return [];
  return trx.insertInto('directory_merge_candidates')
    .values(candidates.map((candidate) => ({
      staged_row_id: candidate.stagedRowId, merged_user_id: candidate.mergedUserId, survivor_id: candidate.survivorId,
      rule: candidate.rule, created_by: candidate.createdBy,
    })))
    .returningAll().execute();
}

export async function findCandidateForUpdate(trx: Kysely<Database>, id: string): Promise<MergeCandidate | undefined> {
  return trx.selectFrom('directory_merge_candidates').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function decideCandidate(trx: Kysely<Database>, id: string, status: 'confirmed' | 'dismissed', decidedBy: string): Promise<void> {
  await trx.updateTable('directory_merge_candidates').set({ status, decided_by: decidedBy, decided_at: new Date() }).where('id', '=', id).execute();
}

/** After a merge: the other pending candidates about the same staged row or the merged-away account no longer apply. */
export async function dismissCandidatesSupersededBy(
  trx: Kysely<Database>,
  merged: { stagedRowId: string } | { userId: string },
  decidedBy: string,
): Promise<void> {
  await trx.updateTable('directory_merge_candidates')
    .set({ status: 'dismissed', decided_by: decidedBy, decided_at: new Date() })
    .where('status', '=', 'pending')
    .where((eb) => ('stagedRowId' in merged
      ? eb('staged_row_id', '=', merged.stagedRowId)
      : eb.or([eb('merged_user_id', '=', merged.userId), eb('survivor_id', '=', merged.userId)])))
    .execute();
}

export async function countPendingCandidatesOfRow(trx: Kysely<Database>, stagedRowId: string): Promise<number> {
  const row = await trx.selectFrom('directory_merge_candidates').select((eb) => eb.fn.countAll<string>().as('count'))
    .where('staged_row_id', '=', stagedRowId).where('status', '=', 'pending').executeTakeFirstOrThrow();
  return Number(row.count);
}

/** A candidate as lists show it: both sides named, and the rule that matched. */
export interface CandidateRow extends MergeCandidate {
  readonly source_id: string | null;
  readonly staged_full_name: string | null;
  readonly merged_username: string | null;
  readonly merged_full_name: string | null;
  readonly survivor_username: string;
  readonly survivor_full_name: string;
}

export async function listCandidates(
  db: Kysely<Database>,
  filter: {
    status?: MergeCandidate['status'] | undefined;
    batchId?: string | undefined;
    ids?: readonly string[] | undefined;
    after?: { created_at: Date; id: string } | undefined;
    limit: number;
  },
): Promise<CandidateRow[]> {
  let query = db.selectFrom('directory_merge_candidates as c')
    .leftJoin('directory_merge_rows as r', 'r.id', 'c.staged_row_id')
    .leftJoin('users as m', 'm.id', 'c.merged_user_id')
    .innerJoin('users as s', 's.id', 'c.survivor_id')
    .selectAll('c')
    .select([
      'r.source_id', sql<string | null>`r.values->>'full_name'`.as('staged_full_name'),
      'm.username as merged_username', 'm.full_name as merged_full_name',
      's.username as survivor_username', 's.full_name as survivor_full_name',
    ])
    .orderBy('c.created_at').orderBy('c.id').limit(filter.limit);
  if (filter.status !== undefined) query = query.where('c.status', '=', filter.status);
  if (filter.batchId !== undefined) query = query.where('r.batch_id', '=', filter.batchId);
  if (filter.ids !== undefined) query = filter.ids.length === 0 ? query.where(sql<boolean>`false`) : query.where('c.id', 'in', [...filter.ids]);
  if (filter.after !== undefined) {
    const { created_at, id } = filter.after;
    query = query.where((eb) => eb.or([eb('c.created_at', '>', created_at), eb.and([eb('c.created_at', '=', created_at), eb('c.id', '>', id)])]));
  }
  return query.execute();
}

/** Both accounts of a merge, locked in a fixed order (two merges crossing each other wait instead of deadlocking). */
export async function lockUsersForMerge(trx: Kysely<Database>, ids: readonly string[]): Promise<User[]> {
  return trx.selectFrom('users').selectAll().where('id', 'in', [...ids]).orderBy('id').forUpdate().execute();
}

/**
 * Moves the merged-away account's units, groups, app assignments, admin roles, app ownership and
 * access-review exclusions onto the survivor where the survivor does not already have them (an app
 * assigned to both keeps the union of the roles), re-points its pending personnel decisions, and
 * answers how many units, groups, app assignments and roles moved.
 */
export async function moveMembershipsToSurvivor(
  trx: Kysely<Database>,
  fromId: string,
  toId: string,
): Promise<{ units: number; groups: number; app_assignments: number; roles: number }> {
  const units = await sql`insert into user_org_units (user_id, org_unit_id, ends_at)
    select ${toId}::uuid, org_unit_id, ends_at from user_org_units where user_id = ${fromId}::uuid
    on conflict do nothing`.execute(trx);
  await sql`delete from user_org_units where user_id = ${fromId}::uuid`.execute(trx);
  const groups = await sql`insert into group_members (group_id, user_id, ends_at)
    select group_id, ${toId}::uuid, ends_at from group_members where user_id = ${fromId}::uuid
    on conflict do nothing`.execute(trx);
  await sql`delete from group_members where user_id = ${fromId}::uuid`.execute(trx);
  await sql`update app_assignments s set roles = (
      select coalesce(jsonb_agg(distinct role order by role), '[]'::jsonb) from jsonb_array_elements_text(s.roles || f.roles) as role)
    from app_assignments f
    where f.user_id = ${fromId}::uuid and s.user_id = ${toId}::uuid and s.client_id = f.client_id`.execute(trx);
  const apps = await sql`update app_assignments set user_id = ${toId}::uuid
    where user_id = ${fromId}::uuid and client_id not in (select client_id from app_assignments where user_id = ${toId}::uuid)`.execute(trx);
  await sql`delete from app_assignments where user_id = ${fromId}::uuid`.execute(trx);
  const roles = await sql`insert into role_assignments (user_id, role, org_unit_id, granted_by, ends_at)
    select ${toId}::uuid, role, org_unit_id, granted_by, ends_at from role_assignments where user_id = ${fromId}::uuid
    on conflict do nothing`.execute(trx);
  await sql`delete from role_assignments where user_id = ${fromId}::uuid`.execute(trx);
  // An access review that took an app from the person took it from the person, whichever account it
  // named; unless the survivor was assigned that app by name, which is how an exclusion is lifted.
  await sql`insert into app_access_exclusions (client_id, user_id, review_id, created_by, created_at)
    select e.client_id, ${toId}::uuid, e.review_id, e.created_by, e.created_at from app_access_exclusions e
    where e.user_id = ${fromId}::uuid
      and not exists (select 1 from app_assignments a where a.user_id = ${toId}::uuid and a.client_id = e.client_id)
    on conflict do nothing`.execute(trx);
  await sql`delete from app_access_exclusions where user_id = ${fromId}::uuid`.execute(trx);
  // Decisions not yet applied (a transfer, a retirement) are about the person: they apply to the survivor.
  await sql`update personnel_decisions set user_id = ${toId}::uuid where user_id = ${fromId}::uuid and status = 'pending'`.execute(trx);
  // A developer keeps the apps they own.
  await sql`insert into client_owners (client_id, user_id, added_by, created_at)
    select client_id, ${toId}::uuid, added_by, created_at from client_owners where user_id = ${fromId}::uuid
    on conflict do nothing`.execute(trx);
  await sql`delete from client_owners where user_id = ${fromId}::uuid`.execute(trx);
  const count = (result: { numAffectedRows?: bigint }) => Number(result.numAffectedRows ?? 0n);
  return { units: count(units), groups: count(groups), app_assignments: count(apps), roles: count(roles) };
}

/**
 * Marks an account merged into another. Its email, CCCD and employee code (each unique) go to the
 * survivor where the survivor has none, and leave the merged row either way, so that they stay
 * usable; the merge's audit event keeps them.
 */
export async function markMerged(trx: Kysely<Database>, from: User, to: User): Promise<void> {
  await trx.updateTable('users').set({
    status: 'merged', merged_into: to.id, email: null, national_id: null, employee_code: null,
    version: sql<number>`version + 1`, updated_at: new Date(),
  }).where('id', '=', from.id).execute();
  await trx.updateTable('users').set({
    email: to.email ?? from.email, email_verified: to.email === null ? from.email_verified : to.email_verified,
    phone: to.phone ?? from.phone, phone_verified: to.phone === null ? from.phone_verified : to.phone_verified,
    national_id: to.national_id ?? from.national_id, employee_code: to.employee_code ?? from.employee_code,
    version: sql<number>`version + 1`, updated_at: new Date(),
  }).where('id', '=', to.id).execute();
  // Links in mails sent to the merged-away account (activation, password reset) die with it.
  await trx.updateTable('account_tokens').set({ used_at: new Date() }).where('user_id', '=', from.id).where('used_at', 'is', null).execute();
}

/**
 * The apps that know a person by their own id as `sub`: those the person signed in to (the audit
 * log's login.success events name the app, and the log is never pruned), those holding a grant
 * (an SSO sign-in records no login, only a grant), and those that were sent a back-channel logout
 * for them. An app knowing the person by an alias is not in this list: see subjectAliasesOf.
 */
export async function appsKnowingAccount(db: Kysely<Database>, userId: string): Promise<string[]> {
  const { rows } = await sql<{ client_id: string }>`
    select details->>'client_id' as client_id from audit_events
      where action = 'login.success' and target_type = 'user' and target_id = ${userId} and details->>'client_id' is not null
    union
    select payload->>'clientId' from oidc_payloads where model = 'Grant' and account_id = ${userId} and payload->>'clientId' is not null
    union
    select client_id from backchannel_logouts where account_id = ${userId}`.execute(db);
  const known = new Set(rows.map((row) => row.client_id));
  // Only apps that still exist: an alias for a deleted app would be a dangling reference.
  if (known.size === 0) return [];
  const existing = await db.selectFrom('clients').select('client_id').where('client_id', 'in', [...known]).execute();
  return existing.map((row) => row.client_id).sort();
}

export async function subjectAliasesOf(db: Kysely<Database>, userId: string): Promise<{ client_id: string; alias_sub: string }[]> {
  return db.selectFrom('subject_aliases').select(['client_id', 'alias_sub']).where('user_id', '=', userId).orderBy('client_id').execute();
}

export async function insertSubjectAliases(trx: Kysely<Database>, aliases: readonly { clientId: string; aliasSub: string; userId: string }[]): Promise<void> {
  if (aliases.length === 0) return;
  await trx.insertInto('subject_aliases')
    .values(aliases.map((alias) => ({ client_id: alias.clientId, alias_sub: alias.aliasSub, user_id: alias.userId })))
    .execute();
}

/** Aliases of the merged-away account: those for apps listed move to the survivor, the rest go (the survivor's own sub wins there). */
export async function moveSubjectAliases(trx: Kysely<Database>, fromId: string, toId: string, clientIds: readonly string[]): Promise<void> {
  if (clientIds.length > 0) {
    await trx.updateTable('subject_aliases').set({ user_id: toId }).where('user_id', '=', fromId).where('client_id', 'in', [...clientIds]).execute();
  }
  await trx.deleteFrom('subject_aliases').where('user_id', '=', fromId).execute();
}

/** The `sub` this app knows the person by, when it is not their own id. */
export async function findSubjectAlias(db: Kysely<Database>, clientId: string, userId: string): Promise<string | undefined> {
  const row = await db.selectFrom('subject_aliases').select('alias_sub')
    .where('client_id', '=', clientId).where('user_id', '=', userId).executeTakeFirst();
  return row?.alias_sub;
}

/** Employee codes already used here, upper-cased: another province's codes may repeat ours. */
export async function takenEmployeeCodes(db: Kysely<Database>, codes: readonly string[]): Promise<Set<string>> {
  if (codes.length === 0) return new Set();
  const rows = await db.selectFrom('users').select(sql<string>`upper(employee_code)`.as('code'))
    .where(sql`upper(employee_code)`, 'in', codes.map((code) => code.toUpperCase())).execute();
  return new Set(rows.map((row) => row.code));
}

/** The person an app's `sub` names: the one an alias points to, when the app has one by that sub. */
export async function findAliasedAccount(db: Kysely<Database>, clientId: string, sub: string): Promise<string | undefined> {
  const row = await db.selectFrom('subject_aliases').select('user_id').where('client_id', '=', clientId).where('alias_sub', '=', sub).executeTakeFirst();
  return row?.user_id;
}

export async function findMergeBatch(db: Kysely<Database>, id: string) {
  return db.selectFrom('directory_merge_batches').selectAll().where('id', '=', id).executeTakeFirst();
}
