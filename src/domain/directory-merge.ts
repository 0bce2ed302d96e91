import type { Kysely } from 'kysely';
import { z } from 'zod';

import { isUniqueViolation } from '../db/errors.ts';
import { findOrgUnitsByCodes } from '../db/queries/org-units.ts';
import {
  countPendingCandidatesOfRow, decideCandidate, dismissCandidatesSupersededBy, findCandidateForUpdate, findDuplicates, findMergeBatch, findStagedRowForUpdate,
  insertCandidates, insertMergeBatch, insertStagedRows, listCandidates, lockUsersForMerge, setMergeBatchReport, settleStagedRow,
  takenEmployeeCodes, type CandidateRow, type DuplicateProbe, type MergeCandidate, type StagedRow,
} from '../db/queries/directory-merge.ts';
import { findUsernamesWithBases, insertImportedUsers } from '../db/queries/user-import.ts';
import { findUserById } from '../db/queries/users.ts';
import type { Database, DuplicateRule, OrgUnit } from '../db/schema.ts';
import { AppError, assertThat, conflict, localizable } from '../errors.ts';
import { issueActivationTokens } from './account-tokens.ts';
import { assertMergeable, mergeAccounts, type AccountMergeDeps } from './account-merge.ts';
import { recordAuditEvent, recordAuditEvents, type AuditRecord } from './audit.ts';
import { requirePermission, type AdminContext } from './authorization.ts';
import { auditBase } from './org-units.ts';
import { maskNationalId, usernameFromName } from './person-fields.ts';
import { maxImportRows } from './user-import.ts';
import { readImportFile, unreadableImportFile, type ImportValues, type RowProblem } from './user-import-csv.ts';
import { userNotFound } from './users.ts';

/**
 * Merging two directories: a second province's accounts come into this one (the 2025 merger of
 * provinces). A global administrator stages the other province's staff list (the bulk import's
 * CSV, same columns); each row is traced to its source ("LA:NV0001", the source province's code
 * and the row's employee code, else username). A row that looks like nobody here becomes an
 * account at once; a row that looks like someone here waits, with one candidate per likely
 * duplicate, for an administrator to confirm (it is that person) or dismiss (it is not). Two
 * accounts already here (the import created both, say) can be proposed for a merge too. Nothing
 * merges without a confirmation.
 *
 * Likely duplicates (findDuplicates): same CCCD, then same email without case, then same phone
 * (E.164), then same name without diacritics in the same primary unit; each candidate names the
 * first rule its account matched.
 *
 * Username collisions: an incoming username (or the one derived from the name, as the import
 * derives it) that an account here already has, whoever holds it, is suffixed with the source
 * province's code after a dot, lower-cased ("lan.nguyen" from Long An, LA, becomes
 * "lan.nguyen.la"); if that is taken too, a number follows ("lan.nguyen.la2"). Nobody here is
 * ever renamed. The staging report lists each rename. An incoming employee code already used
 * here is not carried over (the report lists it); the source id keeps it.
 */

export interface DirectoryMergeDeps extends AccountMergeDeps {
  readonly db: Kysely<Database>;
  readonly masterKey: Buffer;
  readonly activationTtlSeconds?: number;
}

/** A source province's code: what source ids and renamed usernames carry. */
export const sourceCodeSchema = z.string().trim().toUpperCase()
  .regex(/^[A-Z][A-Z0-9]{0,9}$/, 'a source province code is 1 to 10 letters or digits, starting with a letter ("LA")');

export interface StagingReport {
  batch_id: string;
  source_code: string;
  totals: { rows: number; created: number; awaiting_review: number; failed: number; candidates: number };
  renames: Array<{ row: number; source_id: string; from: string; to: string }>;
  employee_codes_not_carried: Array<{ row: number; source_id: string; employee_code: string }>;
  errors: RowProblem[];
  warnings: Array<{ row: number | null; column: string | null; message: string }>;
}

/**
 * Merging directories concerns the whole province and rewrites what apps are told about people,
 * so only a global super administrator may (the permission that reorganizations need).
 */
function requireGlobalAdministrator(context: AdminContext, action: string, target?: { type: string; id: string }): void {
  requirePermission(context.principal, 'org_units.reorganize', null, {
    action, ...(target ? { target } : {}), message: localizable('merging directories concerns the whole province: it needs a global super administrator', 'problem.merge.needs_super_admin'),
  });
}

const actorRef = (context: AdminContext) => `${context.principal.actor.type}:${context.principal.actor.id ?? ''}`;
const candidateTarget = (id: string) => ({ type: 'directory_merge_candidate', id });

/** A valid row, ready to be an account or a candidate's source. */
interface IncomingRow {
  readonly row: number;
  readonly sourceId: string;
  readonly values: ImportValues;
  readonly unit: OrgUnit;
}

export async function stageDirectory(
  deps: DirectoryMergeDeps,
  context: AdminContext,
  csv: Buffer | string,
  options: { sourceCode: string; fileName?: string | undefined },
): Promise<StagingReport> {
  requireGlobalAdministrator(context, 'directory_merge.stage');
  const sourceCode = sourceCodeSchema.parse(options.sourceCode);
  const file = await readImportFile(csv);
  assertThat(file.rows.length <= maxImportRows, () => unreadableImportFile(`the file has ${file.rows.length} rows; one staging takes at most ${maxImportRows}: split it`));
  const codes = [...new Set(file.rows.flatMap((row) => (row.values.org_unit_code === null ? [] : [row.values.org_unit_code])))];
  const units = new Map((await findOrgUnitsByCodes(deps.db, codes)).map((unit) => [unit.code.toUpperCase(), unit]));
  const errors: RowProblem[] = file.rows.flatMap((row) => row.errors);
  const failed = new Set(errors.map((error) => error.row));
  const seenSources = new Map<string, number>();
  const incoming: IncomingRow[] = [];
  for (const { row, values } of file.rows) {
    if (failed.has(row)) continue;
    const unit = units.get(values.org_unit_code!);
    const column = file.columns.org_unit_code!;
    if (unit?.status !== 'active') {
      errors.push({ row, column, message: unit ? `the unit "${values.org_unit_code!}" is closed` : `no unit has the code "${values.org_unit_code!}"` });
      continue;
    }
    const sourceId = `${sourceCode}:${values.employee_code ?? values.username!}`;
    const earlier = seenSources.get(sourceId.toUpperCase());
    if (earlier !== undefined) {
      errors.push({ row, column: null, message: `the source id ${sourceId} is already in row ${earlier}` });
      continue;
    }
    seenSources.set(sourceId.toUpperCase(), row);
    incoming.push({ row, sourceId, values, unit });
  }

  const matches = await findDuplicates(deps.db, incoming.map((row, index) => probeOf(index, row)));
  const matched = new Set(matches.map((match) => match.index));
  const audit = auditBase(context);
  const report = deps.db.transaction().execute(async (trx) => {
    const batchId = await insertMergeBatch(trx, { sourceCode, fileName: options.fileName ?? null, stagedBy: actorRef(context), report: {} });
    const toCreate = incoming.filter((_row, index) => !matched.has(index));
    const accounts = await createAccounts(trx, deps, context, toCreate, sourceCode);
    const accountOf = new Map(accounts.map((account) => [account.row, account]));
    const staged = await insertStagedRows(trx, incoming.map((row) => {
      const account = accountOf.get(row.row);
      return {
        batch_id: batchId, row: row.row, source_id: row.sourceId, values: { ...row.values }, org_unit_id: row.unit.id,
        status: account ? 'created' : 'pending', user_id: account?.userId ?? null, username: account?.username ?? null, renamed_from: account?.renamedFrom ?? null,
      };
    }));
    const stagedByRow = new Map(staged.map((row) => [row.row, row]));
    const candidates = await insertCandidates(trx, matches.map((match) => ({
      stagedRowId: stagedByRow.get(incoming[match.index]!.row)!.id, mergedUserId: null, survivorId: match.userId, rule: match.rule, createdBy: actorRef(context),
    })));
    const result: StagingReport = {
      batch_id: batchId,
      source_code: sourceCode,
      totals: {
        rows: file.rows.length, created: accounts.length, awaiting_review: incoming.length - accounts.length,
        failed: new Set(errors.map((error) => error.row)).size, candidates: candidates.length,
      },
      renames: accounts.flatMap((account) => (account.renamedFrom === null ? [] : [{ row: account.row, source_id: account.sourceId, from: account.renamedFrom, to: account.username }])),
      employee_codes_not_carried: accounts.flatMap((account) => (account.droppedEmployeeCode === null ? [] : [{ row: account.row, source_id: account.sourceId, employee_code: account.droppedEmployeeCode }])),
      errors: [...errors].sort((a, b) => a.row - b.row),
      warnings: file.warnings,
    };
    await setMergeBatchReport(trx, batchId, { ...result });
    await recordAuditEvent(trx, {
      ...audit, action: 'directory_merge.stage', target: { type: 'directory_merge_batch', id: batchId },
      details: { source_code: sourceCode, file_name: options.fileName ?? null, ...result.totals, renames: result.renames.length },
    });
    return result;
  });
  try {
    return await report;
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    // Someone took a username, email or CCCD between the detection and the write: nothing was staged.
    throw conflict(localizable('another change took a username, email address or CCCD that this file uses; nothing was staged: stage the file again', 'problem.merge.staging_raced'), error);
  }
}

function probeOf(index: number, row: IncomingRow): DuplicateProbe {
  return {
    index, nationalId: row.values.national_id, email: row.values.email, phone: row.values.phone,
    fullName: row.values.full_name!, orgUnitId: row.unit.id, excludeUserId: null,
  };
}

interface CreatedAccount {
  readonly row: number;
  readonly sourceId: string;
  readonly userId: string;
  readonly username: string;
  readonly renamedFrom: string | null;
  readonly droppedEmployeeCode: string | null;
}

/**
 * The username an incoming person gets under the collision rule (see the top of this file), given
 * the usernames taken here, lower-cased; the caller adds the result to `taken`.
 */
export function incomingUsername(wanted: string, sourceCode: string, taken: ReadonlySet<string>): string {
  if (!taken.has(wanted.toLowerCase())) return wanted;
  const suffix = `.${sourceCode.toLowerCase()}`;
  const base = `${wanted.slice(0, 64 - suffix.length - 4)}${suffix}`;
  let candidate = base;
  for (let number = 2; taken.has(candidate.toLowerCase()); number += 1) candidate = `${base}${number}`;
  return candidate;
}

/** Creates accounts (awaiting activation, with a mail) for incoming rows, each audited with its source id. */
async function createAccounts(
  trx: Kysely<Database>,
  deps: DirectoryMergeDeps,
  context: AdminContext,
  rows: readonly IncomingRow[],
  sourceCode: string,
): Promise<CreatedAccount[]> {
  if (rows.length === 0) return [];
  const wanted = rows.map((row) => row.values.username ?? usernameFromName(row.values.full_name!));
  const taken = new Set(await findUsernamesWithBases(trx, wanted.flatMap((name) => [name.toLowerCase(), `${name}.${sourceCode}`.toLowerCase()])));
  const usernames = wanted.map((name) => {
    const chosen = incomingUsername(name, sourceCode, taken);
    taken.add(chosen.toLowerCase());
    return chosen;
  });
  const takenCodes = await takenEmployeeCodes(trx, rows.flatMap((row) => (row.values.employee_code === null ? [] : [row.values.employee_code])));
  const carriedCode = (code: string | null) => (code !== null && !takenCodes.has(code.toUpperCase()) ? code : null);
  const newUsers = rows.map(({ values, unit }, index) => ({
    username: usernames[index]!, full_name: values.full_name!, email: values.email, phone: values.phone,
    employee_code: carriedCode(values.employee_code), national_id: values.national_id, position: values.position, primary_org_unit_id: unit.id,
  }));
  const inserted = await insertImportedUsers(trx, newUsers);
  const idOf = new Map(inserted.map((user) => [user.username.toLowerCase(), user.id]));
  const created = newUsers.map((user) => ({ ...user, id: idOf.get(user.username.toLowerCase())! }));
  await issueActivationTokens(trx, created, { masterKey: deps.masterKey, ttlSeconds: deps.activationTtlSeconds });
  const events: AuditRecord[] = created.map((user, index) => ({
    ...auditBase(context), action: 'user.create', target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
    after: {
      username: user.username, full_name: user.full_name, email: user.email, phone: user.phone, employee_code: user.employee_code,
      national_id: user.national_id === null ? null : maskNationalId(user.national_id), position: user.position, status: 'pending_activation',
    },
    details: { source: 'directory_merge', source_id: rows[index]!.sourceId, row: rows[index]!.row },
  }));
  await recordAuditEvents(trx, events);
  return created.map((user, index) => ({
    row: rows[index]!.row, sourceId: rows[index]!.sourceId, userId: user.id, username: user.username,
    renamedFrom: user.username === wanted[index] ? null : wanted[index]!,
    droppedEmployeeCode: rows[index]!.values.employee_code !== null && user.employee_code === null ? rows[index]!.values.employee_code : null,
  }));
}

/**
 * Proposes merging an account here into another: into the one named (rule named_by_admin), or, with
 * no survivor named, into each account that looks like it (the detection rules). Only proposes:
 * each candidate still needs a confirmation.
 */
export async function proposeAccountMerge(
  deps: DirectoryMergeDeps,
  context: AdminContext,
  input: { mergedUserId: string; survivorId?: string | undefined },
): Promise<CandidateRow[]> {
  requireGlobalAdministrator(context, 'directory_merge.propose', { type: 'user', id: input.mergedUserId });
  const merged = await findUserById(deps.db, input.mergedUserId);
  assertThat(merged, userNotFound(input.mergedUserId));
  let proposals: { survivorId: string; rule: DuplicateRule }[];
  if (input.survivorId !== undefined) {
    const survivor = await findUserById(deps.db, input.survivorId);
    assertThat(survivor, userNotFound(input.survivorId));
    assertMergeable(merged, survivor);
    proposals = [{ survivorId: survivor.id, rule: 'named_by_admin' }];
  } else {
    assertThat(merged.status !== 'merged', conflict(localizable('this account has already been merged into another', 'problem.merge.already_merged')));
    const matches = await findDuplicates(deps.db, [{
      index: 0, nationalId: merged.national_id, email: merged.email, phone: merged.phone, fullName: merged.full_name,
      orgUnitId: merged.primary_org_unit_id, excludeUserId: merged.id,
    }]);
    proposals = matches.map((match) => ({ survivorId: match.userId, rule: match.rule }));
  }
  const inserted = await deps.db.transaction().execute(async (trx) => {
    const rows = await insertCandidates(trx, proposals.map((proposal) => ({
      stagedRowId: null, mergedUserId: merged.id, survivorId: proposal.survivorId, rule: proposal.rule, createdBy: actorRef(context),
    })));
    if (rows.length > 0) {
      await recordAuditEvent(trx, {
        ...auditBase(context), action: 'directory_merge.propose', target: { type: 'user', id: merged.id }, orgUnitId: merged.primary_org_unit_id,
        details: { candidates: rows.map((row) => ({ id: row.id, survivor_id: row.survivor_id, rule: row.rule })) },
      });
    }
    return rows;
  });
  return listCandidates(deps.db, { ids: inserted.map((row) => row.id), limit: inserted.length });
}

export async function listMergeCandidates(
  deps: Pick<DirectoryMergeDeps, 'db'>,
  context: AdminContext,
  filter: Parameters<typeof listCandidates>[1],
): Promise<CandidateRow[]> {
  requireGlobalAdministrator(context, 'directory_merge.read');
  return listCandidates(deps.db, filter);
}

/** A staging's report, as it was written when the file was staged. */
export async function getStagingReport(deps: Pick<DirectoryMergeDeps, 'db'>, context: AdminContext, batchId: string): Promise<StagingReport> {
  requireGlobalAdministrator(context, 'directory_merge.read');
  const batch = await findMergeBatch(deps.db, batchId);
  assertThat(batch, new AppError('not_found', localizable(`no staging with id ${batchId}`, 'problem.merge.no_batch', { id: batchId }), 404));
  return batch.report as unknown as StagingReport;
}

const candidateNotFound = (id: string) => new AppError('not_found', localizable(`no merge candidate with id ${id}`, 'problem.merge.no_candidate', { id }), 404);

async function pendingCandidate(trx: Kysely<Database>, id: string): Promise<MergeCandidate> {
  const candidate = await findCandidateForUpdate(trx, id);
  assertThat(candidate, candidateNotFound(id));
  assertThat(candidate.status === 'pending', conflict(localizable(`this candidate has already been ${candidate.status}`, 'problem.merge.candidate_decided')));
  return candidate;
}

async function pendingRowOf(trx: Kysely<Database>, candidate: MergeCandidate): Promise<StagedRow> {
  const row = await findStagedRowForUpdate(trx, candidate.staged_row_id!);
  assertThat(row?.status === 'pending', conflict(localizable('this staged row has already become an account or been merged', 'problem.merge.row_decided')));
  return row;
}

/** Confirms one candidate: that person is this one. Merges that pair, and nothing else, in one transaction. */
export async function confirmMergeCandidate(deps: DirectoryMergeDeps, context: AdminContext, id: string): Promise<CandidateRow> {
  requireGlobalAdministrator(context, 'directory_merge.confirm', candidateTarget(id));
  const audit = auditBase(context);
  await deps.db.transaction().execute(async (trx) => {
    const candidate = await pendingCandidate(trx, id);
    if (candidate.merged_user_id !== null) {
      await mergeAccounts(trx, deps, { mergedUserId: candidate.merged_user_id, survivorId: candidate.survivor_id, rule: candidate.rule, candidateId: id }, audit);
      await decideCandidate(trx, id, 'confirmed', actorRef(context));
      await dismissCandidatesSupersededBy(trx, { userId: candidate.merged_user_id }, actorRef(context));
      return;
    }
    // A staged row has no account, sessions or apps here: it is recorded as that person, traceably.
    const row = await pendingRowOf(trx, candidate);
    const [survivor] = await lockUsersForMerge(trx, [candidate.survivor_id]);
    assertThat(survivor, conflict(localizable('the account to keep no longer exists', 'problem.merge.survivor_gone')));
    assertMergeable({ id: row.id, status: 'pending_activation' }, survivor);
    await settleStagedRow(trx, row.id, { status: 'merged', userId: survivor.id });
    await decideCandidate(trx, id, 'confirmed', actorRef(context));
    await dismissCandidatesSupersededBy(trx, { stagedRowId: row.id }, actorRef(context));
    await recordAuditEvent(trx, {
      ...audit, action: 'user.merge', target: { type: 'user', id: survivor.id }, orgUnitId: survivor.primary_org_unit_id,
      details: { candidate_id: id, rule: candidate.rule, staged_row_id: row.id, source_id: row.source_id, batch_id: row.batch_id },
    });
  });
  return candidateRow(deps.db, id);
}

/**
 * Dismisses one candidate: they are two people. A staged row none of whose candidates is left
 * becomes an account (under the username rule); if it cannot, because it shares a CCCD or an
 * email with someone here, the dismissal is refused and nothing changes.
 */
export async function dismissMergeCandidate(deps: DirectoryMergeDeps, context: AdminContext, id: string): Promise<CandidateRow> {
  requireGlobalAdministrator(context, 'directory_merge.dismiss', candidateTarget(id));
  await deps.db.transaction().execute(async (trx) => {
    const candidate = await pendingCandidate(trx, id);
    await decideCandidate(trx, id, 'dismissed', actorRef(context));
    const details: Record<string, unknown> = { rule: candidate.rule, survivor_id: candidate.survivor_id, merged_user_id: candidate.merged_user_id };
    if (candidate.staged_row_id !== null && (await countPendingCandidatesOfRow(trx, candidate.staged_row_id)) === 0) {
      const row = await pendingRowOf(trx, candidate);
      const unit = await trx.selectFrom('org_units').selectAll().where('id', '=', row.org_unit_id).executeTakeFirstOrThrow();
      const values = row.values as unknown as ImportValues;
      assertThat(unit.status === 'active', conflict(localizable(`the unit ${unit.code} has been closed since the staging; the row cannot become an account there`, 'problem.merge.unit_closed', { code: unit.code })));
      const holders = await findDuplicates(trx, [probeOf(0, { row: row.row, sourceId: row.source_id, values, unit })]);
      const unique = holders.find((holder) => holder.rule === 'national_id' || holder.rule === 'email');
      assertThat(!unique, conflict(unique?.rule === 'email'
        ? localizable('another account here has this row\'s email address: they are one person (confirm that candidate), or one of the two is wrong', 'problem.merge.shares_email')
        : localizable('another account here has this row\'s citizen identity number (CCCD): they are one person (confirm that candidate), or one of the two is wrong', 'problem.merge.shares_national_id')));
      const batch = await trx.selectFrom('directory_merge_batches').select('source_code').where('id', '=', row.batch_id).executeTakeFirstOrThrow();
      const [account] = await createAccounts(trx, deps, context, [{ row: row.row, sourceId: row.source_id, values, unit }], batch.source_code);
      await settleStagedRow(trx, row.id, { status: 'created', userId: account!.userId, username: account!.username, renamedFrom: account!.renamedFrom });
      Object.assign(details, { source_id: row.source_id, created_user_id: account!.userId, username: account!.username, renamed_from: account!.renamedFrom });
    }
    await recordAuditEvent(trx, { ...auditBase(context), action: 'directory_merge.dismiss', target: candidateTarget(id), details });
  });
  return candidateRow(deps.db, id);
}

async function candidateRow(db: Kysely<Database>, id: string): Promise<CandidateRow> {
  const [found] = await listCandidates(db, { ids: [id], limit: 1 });
  assertThat(found, candidateNotFound(id));
  return found;
}
