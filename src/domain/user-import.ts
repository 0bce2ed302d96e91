import type { Kysely } from 'kysely';

import { isUniqueViolation } from '../db/errors.ts';
import { findOrgUnitsByCodes, findOrgUnitsForShare } from '../db/queries/org-units.ts';
import {
  findUsernamesWithBases,
  findUsersForImport,
  insertImportedUsers,
  updateImportedUsers,
  type ImportedUser,
  type ImportedUserUpdate,
} from '../db/queries/user-import.ts';
import { scopedAssignmentsOfUsers, type ScopedAssignment } from '../db/queries/role-assignments.ts';
import type { Database, OrgUnit } from '../db/schema.ts';
import { assertThat, conflict, localizable, said, type LocalizedMessage } from '../errors.ts';
import { issueActivationTokens } from './account-tokens.ts';
import { AccessDenied, isPermitted, mayGrantRole, scopeOf, subtreeFilter, type AdminContext } from './authorization.ts';
import { recordAuditEvent, recordAuditEvents, type Actor, type AuditRecord, type RequestOrigin } from './audit.ts';
import { maskNationalId, usernameFromName } from './person-fields.ts';
import {
  importRows,
  importWarnings,
  openImportFile,
  unreadableImportFile,
  type ImportField,
  type ImportRow,
  type ImportSource,
  type ImportValues,
  type RowProblem,
} from './user-import-csv.ts';

export { unreadableImportFile } from './user-import-csv.ts';

/**
 * The bulk import of people from HR's spreadsheet. Each row is planned (create, update with the
 * fields that change, unchanged, or error) against the database as it is; a dry run stops there, an
 * apply writes the plan batch by batch. The file is read twice, never held as rows: once for what
 * only the whole file tells (its size, values repeated in it, its units and usernames), then batch
 * by batch to plan and write. Idempotent: a row is keyed on its employee code, else on its
 * username, so a rerun of the same file changes nothing, and a rerun after an interrupt finishes
 * the job. A blank cell leaves the stored value as it is: the import fills and corrects, never erases.
 */

export interface ImportDeps {
  db: Kysely<Database>;
  /** MASTER_KEY: seals each activation token inside the mail that carries it. */
  masterKey: Buffer;
  /** How long activation links work; a week when unset. */
  activationTtlSeconds?: number;
}

export interface ImportOptions {
  dryRun: boolean;
  actor: Actor;
  origin: RequestOrigin;
  /** Named in the import's audit event. */
  fileName?: string;
  /** When set, only rows whose org unit lies in one of these subtree paths (org_units.path prefixes) may be imported; others are row errors "outside your scope". null = unrestricted. */
  allowedSubtrees: readonly string[] | null;
  /**
   * Whether the importer has authority over an existing person's admin roles, as the admin API
   * asks before changing an administrator; unset: unrestricted (the CLI, the seed).
   */
  mayChangeHolderOf?: (assignments: readonly ScopedAssignment[]) => boolean;
}

export type ImportOutcome = 'create' | 'update' | 'unchanged' | 'error';

export interface ImportReport {
  dryRun: boolean;
  totals: { rows: number; created: number; updated: number; unchanged: number; failed: number };
  rows: Array<{ row: number; outcome: ImportOutcome; employee_code: string | null; username: string | null; changes?: string[] }>;
  /** `localized` is what the console's review page shows; the API's answer leaves it out (its schema) and the report file is in English. */
  errors: Array<{ row: number; column: string | null; message: string; localized?: LocalizedMessage | undefined }>;
  warnings: Array<{ row: number | null; column: string | null; message: string }>;
}

/**
 * Rows per transaction: small enough that an interrupt loses little and locks stay short, large
 * enough that statements, not round trips, dominate. 500 rows stay far below PostgreSQL's 65,535
 * parameters per statement.
 */
const batchSize = 500;

/** Five times the province: a larger file is a mistake, or an attempt to tie up the server. */
export const maxImportRows = 100_000;

/**
 * An import by an administrator (the admin API, the console): it needs the right to create people,
 * rows for units outside the importer's scope are row errors rather than a refusal of the file,
 * and an existing administrator is changed only by someone who could have granted their roles.
 */
export async function importUsersAs(
  deps: ImportDeps,
  context: AdminContext,
  csv: Buffer | string,
  options: { dryRun: boolean; fileName?: string | undefined },
): Promise<ImportReport> {
  if (!isPermitted(context.principal, 'users.write')) {
    throw new AccessDenied(localizable('importing people needs the right to create them (org_admin or super_admin)', 'problem.import.needs_users_write'), 'users.import');
  }
  return importUsers(deps, csv, {
    dryRun: options.dryRun,
    actor: context.principal.actor,
    origin: context.origin,
    ...(options.fileName === undefined ? {} : { fileName: options.fileName }),
    allowedSubtrees: subtreeFilter(scopeOf(context.principal, 'users.write')),
    mayChangeHolderOf: (assignments) => assignments.every((assignment) => mayGrantRole(context.principal, assignment.role, assignment.org_unit_path)),
  });
}

/** Plans, and unless it is a dry run writes, an import. Throws an invalid_input AppError for an unreadable file. */
export async function importUsers(deps: ImportDeps, csv: Buffer | string, options: ImportOptions): Promise<ImportReport> {
  const source = await openImportFile(csv);
  const survey = await surveyFile(source);
  if (survey.rows > maxImportRows) {
    throw unreadableImportFile(`the file has ${survey.rows} rows; one import takes at most ${maxImportRows}: split it`);
  }
  const { columns } = source;
  const inScope = (unitPath: string | null) => options.allowedSubtrees === null
    || (unitPath !== null && options.allowedSubtrees.some((subtree) => unitPath.startsWith(subtree)));
  const units = new Map((await findOrgUnitsByCodes(deps.db, [...survey.unitCodes])).map((unit) => [unit.code.toUpperCase(), unit]));
  const context: PlanContext = {
    columns,
    inScope,
    takenUsernames: new Set(await findUsernamesWithBases(deps.db, [...survey.usernameBases])),
    claimedUsernames: survey.usernames,
    nextSuffix: new Map(),
    matchedUsers: new Map(),
    mayChangeHolderOf: options.mayChangeHolderOf,
  };
  const { errors } = survey;
  // In the file's order; a candidate's place is filled when its batch has been planned.
  const reportRows: (ReportRow | undefined)[] = [];
  const now = new Date();
  const planAndWrite = async (batch: readonly Candidate[]) => {
    const planned = options.dryRun
      ? await planBatch(deps.db, batch, context, { lock: false })
      : await writtenBatch(deps, batch, context, options, now);
    for (const plan of planned) {
      reportRows[plan.candidate.place] = reportRowOf(plan);
      if (plan.kind === 'error') errors.push(...plan.errors);
    }
  };
  let batch: Candidate[] = [];
  for await (const row of importRows(source)) {
    const unitProblem = unitProblemOf(row, columns, units, inScope);
    if (unitProblem) errors.push(unitProblem);
    if (unitProblem || survey.failedRows.has(row.row)) {
      reportRows.push(failedReportRow(row));
      continue;
    }
    batch.push({ row: row.row, values: row.values, unit: units.get(row.values.org_unit_code!)!, place: reportRows.length });
    reportRows.push(undefined);
    if (batch.length === batchSize) {
      await planAndWrite(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await planAndWrite(batch);
  const report = buildReport(options.dryRun, reportRows, errors, importWarnings(source));
  if (!options.dryRun) {
    await recordAuditEvent(deps.db, {
      actor: options.actor,
      origin: options.origin,
      action: 'users.import',
      // An importer scoped to one subtree imported into it: that unit's auditors see the import.
      orgUnitId: options.allowedSubtrees?.length === 1 ? (options.allowedSubtrees[0]!.split('/').at(-2) ?? null) : null,
      details: { file_name: options.fileName ?? null, ...report.totals },
    });
  }
  return report;
}

/** Plans and writes one batch in its own transaction: an interrupt keeps the batches before it. */
async function writtenBatch(deps: ImportDeps, batch: readonly Candidate[], context: PlanContext, options: ImportOptions, now: Date): Promise<Plan[]> {
  try {
    return await deps.db.transaction().execute(async (trx) => {
      const planned = await planBatch(trx, batch, context, { lock: true });
      await writeBatch(trx, planned, deps, options, now);
      return planned;
    });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    // Someone took a username, email or CCCD between the plan and the write; earlier batches are in.
    throw conflict(localizable(`another change took a username, email address or CCCD that row ${batch[0]!.row} or a later row uses; `
      + 'the rows before it were imported: run the import again to finish', 'problem.import.taken_meanwhile', { row: String(batch[0]!.row) }));
  }
}

/** A row whose cells are valid and whose unit exists, is open and is in scope. */
interface Candidate {
  readonly row: number;
  readonly values: ImportValues;
  readonly unit: OrgUnit;
  /** Its index among the report's rows. */
  readonly place: number;
}

type Plan =
  | { readonly kind: 'create'; readonly candidate: Candidate; username: string | null }
  | { readonly kind: 'update'; readonly candidate: Candidate; readonly existing: ImportedUser; readonly next: ImportedUserUpdate; readonly changes: Change[] }
  | { readonly kind: 'unchanged'; readonly candidate: Candidate; readonly existing: ImportedUser }
  | { readonly kind: 'error'; readonly candidate: Candidate; readonly errors: RowProblem[] };

interface PlanContext {
  readonly columns: Partial<Record<ImportField, string>>;
  readonly inScope: (unitPath: string | null) => boolean;
  /** Usernames the file spells out or the import has derived so far, lower-cased, with the row that has each: a derived one avoids them all. */
  readonly claimedUsernames: Map<string, number>;
  /** Stored usernames a derived one could collide with, lower-cased, read once for the whole file. */
  readonly takenUsernames: ReadonlySet<string>;
  /** For each base a username was derived from, the suffix to try next. */
  readonly nextSuffix: Map<string, number>;
  /** Who each existing person's row is, so that two rows cannot both be one person. */
  readonly matchedUsers: Map<string, number>;
  readonly mayChangeHolderOf: ((assignments: readonly ScopedAssignment[]) => boolean) | undefined;
}

const uniqueFields = [
  { field: 'employee_code', label: 'employee code', key: (value: string) => value.toUpperCase(), showValue: true },
  { field: 'username', label: 'username', key: (value: string) => value.toLowerCase(), showValue: true },
  { field: 'email', label: 'email address', key: (value: string) => value.toLowerCase(), showValue: true },
  // A CCCD is personal data: the report names the row, not the number.
  { field: 'national_id', label: 'citizen identity number (CCCD)', key: (value: string) => value, showValue: false },
] as const;

/** What only the whole file tells, read in a first pass over its rows. */
interface Survey {
  /** Rows that are not blank. */
  rows: number;
  /** The rows' own problems and values repeated within the file; the second pass adds the rest. */
  readonly errors: RowProblem[];
  readonly failedRows: Set<number>;
  readonly unitCodes: Set<string>;
  /** What usernames would be derived from, for rows that spell none out. */
  readonly usernameBases: Set<string>;
  /** The usernames the file spells out, lower-cased, each with the first row that has it. */
  readonly usernames: Map<string, number>;
}

/**
 * The first pass. Of each row it keeps only the values that must be unique, so that the later of
 * two rows sharing one is an error naming the earlier; the row itself is read again for its batch.
 */
async function surveyFile(source: ImportSource): Promise<Survey> {
  const survey: Survey = { rows: 0, errors: [], failedRows: new Set(), unitCodes: new Set(), usernameBases: new Set(), usernames: new Map() };
  const firstRows = uniqueFields.map(({ field }) => (field === 'username' ? survey.usernames : new Map<string, number>()));
  const fail = (problem: RowProblem) => {
    survey.errors.push(problem);
    survey.failedRows.add(problem.row);
  };
  for await (const { row, values, errors } of importRows(source)) {
    survey.rows += 1;
    // Counted, nothing more: a file this long is refused.
    if (survey.rows > maxImportRows) continue;
    errors.forEach(fail);
    uniqueFields.forEach(({ field, label, key, showValue }, index) => {
      const value = values[field];
      if (value === null) return;
      const firstRow = firstRows[index]!;
      const earlier = firstRow.get(key(value));
      if (earlier === undefined) {
        firstRow.set(key(value), row);
        return;
      }
      const english = `the ${label}${showValue ? ` "${value}"` : ''} is already in row ${earlier}`;
      fail({ row, column: source.columns[field]!, ...said(showValue
        ? localizable(english, 'problem.import.value_repeated', { value, earlier: String(earlier) })
        : localizable(english, 'problem.import.hidden_value_repeated', { earlier: String(earlier) })) });
    });
    if (values.org_unit_code !== null) survey.unitCodes.add(values.org_unit_code);
    if (values.username === null && values.full_name !== null) survey.usernameBases.add(usernameBase(values));
  }
  return survey;
}

/** A row's unit that does not exist, is closed or is outside the importer's scope. */
function unitProblemOf(
  { row, values }: ImportRow,
  columns: Partial<Record<ImportField, string>>,
  units: ReadonlyMap<string, OrgUnit>,
  inScope: (unitPath: string) => boolean,
): RowProblem | undefined {
  const code = values.org_unit_code;
  if (code === null) return undefined;
  const unit = units.get(code);
  const column = columns.org_unit_code!;
  if (unit === undefined) return { row, column, ...said(localizable(`no unit has the code "${code}"`, 'problem.import.no_such_unit', { code })) };
  if (unit.status !== 'active') return { row, column, ...said(localizable(`the unit "${code}" is closed`, 'problem.import.unit_closed', { code })) };
  if (!inScope(unit.path)) return { row, column, ...said(localizable(`the unit "${code}" is outside your scope`, 'problem.import.unit_outside_scope', { code })) };
  return undefined;
}

type IndexedUsers = Record<(typeof uniqueFields)[number]['field'], Map<string, ImportedUser>>;

/** Plans one batch against the people it could be about, read in one query. */
async function planBatch(db: Kysely<Database>, batch: readonly Candidate[], context: PlanContext, options: { lock: boolean }): Promise<Plan[]> {
  const keysOf = (field: ImportField, key: (value: string) => string) =>
    [...new Set(batch.flatMap((candidate) => { const value = candidate.values[field]; return value === null ? [] : [key(value)]; }))];
  const [employeeCodes, usernames, emails, nationalIds] = uniqueFields.map(({ field, key }) => keysOf(field, key)) as [string[], string[], string[], string[]];
  const existing = await findUsersForImport(db, { employeeCodes, usernames, emails, nationalIds }, options);
  const index = Object.fromEntries(uniqueFields.map(({ field, key }) => [
    field,
    new Map(existing.flatMap((user) => { const value = user[field]; return value === null ? [] : [[key(value), user] as const]; })),
  ])) as IndexedUsers;
  const assignments = context.mayChangeHolderOf ? await scopedAssignmentsOfUsers(db, existing.map((user) => user.id)) : new Map<string, ScopedAssignment[]>();
  const plans = batch.map((candidate) => planRow(candidate, index, context, assignments));
  deriveUsernames(plans, context);
  return plans;
}

function planRow(candidate: Candidate, index: IndexedUsers, context: PlanContext, assignments: ReadonlyMap<string, readonly ScopedAssignment[]>): Plan {
  const { row, values } = candidate;
  const existing = existingPerson(values, index);
  const errors: RowProblem[] = [];
  if (existing !== undefined) {
    const keyColumn = context.columns[values.employee_code !== null ? 'employee_code' : 'username']!;
    const earlier = context.matchedUsers.get(existing.id);
    if (earlier !== undefined) {
      errors.push({ row, column: keyColumn, ...said(localizable(`this person (${existing.username}) is already in row ${earlier}`, 'problem.import.person_repeated', { username: existing.username, earlier: String(earlier) })) });
    } else {
      context.matchedUsers.set(existing.id, row);
      // Moving someone into your unit needs a right over the unit they are in now, too.
      if (!context.inScope(existing.org_unit_path)) {
        errors.push({ row, column: keyColumn, ...said(localizable('this person is in a unit outside your scope', 'problem.import.person_outside_scope')) });
      }
    }
  }
  for (const { field, label, key } of uniqueFields) {
    const value = values[field];
    const holder = value === null ? undefined : index[field].get(key(value));
    if (holder === undefined || holder.id === existing?.id) continue;
    // Whose it is only for an admin who may see that person.
    const whose = context.inScope(holder.org_unit_path) ? ` (${holder.username})` : '';
    errors.push({ row, column: context.columns[field]!, ...said(whose
      ? localizable(`the ${label} is already used by another account${whose}`, 'problem.import.value_taken_by', { username: holder.username })
      : localizable(`the ${label} is already used by another account`, 'problem.import.value_taken')) });
  }
  if (errors.length > 0) return { kind: 'error', candidate, errors };
  if (existing === undefined) return { kind: 'create', candidate, username: values.username };
  const { next, changes } = compareWithStored(existing, candidate);
  if (changes.length === 0) return { kind: 'unchanged', candidate, existing };
  // The same protection as the API's: a district's admin does not rewrite a super administrator.
  if (context.mayChangeHolderOf && !context.mayChangeHolderOf(assignments.get(existing.id) ?? [])) {
    const keyColumn = context.columns[values.employee_code !== null ? 'employee_code' : 'username']!;
    return { kind: 'error', candidate, errors: [{ row, column: keyColumn, ...said(localizable('this person holds admin roles you could not grant; ask an administrator who can to change them', 'problem.import.admin_roles')) }] };
  }
  return { kind: 'update', candidate, existing, next, changes };
}

/** The stored person a row is about: by employee code when it has one, else by username. */
function existingPerson(values: ImportValues, index: IndexedUsers): ImportedUser | undefined {
  const byUsername = values.username === null ? undefined : index.username.get(values.username.toLowerCase());
  if (values.employee_code === null) return byUsername;
  const byCode = index.employee_code.get(values.employee_code.toUpperCase());
  if (byCode !== undefined) return byCode;
  // Someone created before HR gave them a code is recognised by the username the file spells out.
  return byUsername?.employee_code === null ? byUsername : undefined;
}

const comparedFields = ['employee_code', 'full_name', 'username', 'email', 'phone', 'position', 'national_id'] as const;

/** A field of a person that the import changes, as the report and the audit event name it. */
interface Change {
  readonly field: (typeof comparedFields)[number] | 'org_unit_code';
  readonly before: string | null;
  readonly after: string | null;
}

/** What the row changes. Usernames, emails and employee codes differing only in case are the same. */
function compareWithStored(existing: ImportedUser, { values, unit }: Candidate): { next: ImportedUserUpdate; changes: Change[] } {
  const changes: Change[] = [];
  const next = { ...existing, primary_org_unit_id: unit.id };
  for (const field of comparedFields) {
    const wanted = values[field];
    const stored = existing[field];
    const key = uniqueFields.find((unique) => unique.field === field)?.key ?? ((value: string) => value);
    if (wanted === null || (stored !== null && key(wanted) === key(stored))) continue;
    next[field] = wanted;
    changes.push({ field, before: stored, after: wanted });
  }
  if (existing.primary_org_unit_id !== unit.id) changes.push({ field: 'org_unit_code', before: existing.org_unit_code, after: unit.code });
  return { next, changes };
}

/** The login name HR would give someone; usernames are derived from it with a number added when taken. */
const usernameBase = (values: ImportValues) => usernameFromName(values.full_name!);

/** Gives each new person without a username one made from their name, unique in the database and the file. */
function deriveUsernames(plans: readonly Plan[], context: PlanContext): void {
  for (const plan of plans) {
    if (plan.kind !== 'create' || plan.username !== null) continue;
    const base = usernameBase(plan.candidate.values);
    // Common names recur hundreds of times in a province: resume where the last one of the base stopped.
    let suffix = context.nextSuffix.get(base) ?? 1;
    const candidate = () => (suffix === 1 ? base : `${base}${suffix}`);
    while (context.takenUsernames.has(candidate()) || context.claimedUsernames.has(candidate())) suffix += 1;
    context.nextSuffix.set(base, suffix + 1);
    context.claimedUsernames.set(candidate(), plan.candidate.row);
    plan.username = candidate();
  }
}

/** Writes one planned batch inside its transaction: people, their activation tokens and mails, and an audit event each. */
async function writeBatch(trx: Kysely<Database>, plans: readonly Plan[], deps: ImportDeps, options: ImportOptions, now: Date): Promise<void> {
  const creates = plans.filter((plan) => plan.kind === 'create');
  const updates = plans.filter((plan) => plan.kind === 'update');
  // The units were read when the file was; hold them open now, and notice one closed meanwhile.
  const unitIds = [...new Set([...creates, ...updates].map((plan) => plan.candidate.unit.id))];
  const closed = (await findOrgUnitsForShare(trx, unitIds)).find((unit) => unit.status !== 'active');
  assertThat(!closed, () => conflict(localizable(`the unit ${closed?.code ?? ''} was closed during the import; the rows before this batch were imported`, 'problem.import.unit_closed_meanwhile', { code: closed?.code ?? '' })));
  const newUsers = creates.map(({ candidate: { values, unit }, username }) => ({
    username: username!,
    full_name: values.full_name!,
    email: values.email,
    phone: values.phone,
    employee_code: values.employee_code,
    national_id: values.national_id,
    position: values.position,
    primary_org_unit_id: unit.id,
  }));
  const inserted = await insertImportedUsers(trx, newUsers);
  const idByUsername = new Map(inserted.map((user) => [user.username.toLowerCase(), user.id]));
  const created = newUsers.map((user) => ({ ...user, id: idByUsername.get(user.username.toLowerCase())! }));
  const updated = await updateImportedUsers(trx, updates.map((plan) => plan.next));
  // The rows were locked when planned, so this only fails if that promise is broken.
  assertThat(updated.length === updates.length, () => new Error('an imported person changed between plan and write'));
  await issueActivationTokens(trx, created, { masterKey: deps.masterKey, now, ttlSeconds: deps.activationTtlSeconds });

  const events: AuditRecord[] = [];
  const audit = (record: { row: number; action: string; id: string; unitId: string; before?: Record<string, unknown>; after: Record<string, unknown> }) =>
    events.push({
      actor: options.actor,
      origin: options.origin,
      action: record.action,
      target: { type: 'user', id: record.id },
      orgUnitId: record.unitId,
      before: record.before ?? null,
      after: record.after,
      details: { source: 'import', file_name: options.fileName ?? null, row: record.row },
    });
  for (const [index, plan] of creates.entries()) {
    const { unit } = plan.candidate;
    const { id, username, full_name, email, phone, employee_code, national_id, position } = created[index]!;
    audit({
      row: plan.candidate.row, action: 'user.create', id, unitId: unit.id,
      after: {
        ...auditedValues({ username, full_name, email, phone, employee_code, national_id, position }),
        org_unit_code: unit.code,
        status: 'pending_activation',
      },
    });
  }
  for (const plan of updates) {
    audit({
      row: plan.candidate.row, action: 'user.update', id: plan.existing.id, unitId: plan.candidate.unit.id,
      before: auditedValues(Object.fromEntries(plan.changes.map((change) => [change.field, change.before]))),
      after: auditedValues(Object.fromEntries(plan.changes.map((change) => [change.field, change.after]))),
    });
  }
  // One append for the batch: the chain is held for one statement, not one round trip per person.
  await recordAuditEvents(trx, events);
}

/** The audit log cannot forget, so it keeps a CCCD masked, as lists show it. */
function auditedValues(values: Record<string, string | null>): Record<string, string | null> {
  const nationalId = values['national_id'];
  return nationalId ? { ...values, national_id: maskNationalId(nationalId) } : values;
}

type ReportRow = ImportReport['rows'][number];

/** What the report says of a row that was planned (an error found in the plan included). */
function reportRowOf(plan: Plan): ReportRow {
  const { row, values } = plan.candidate;
  switch (plan.kind) {
    case 'create':
      return { row, outcome: 'create', employee_code: values.employee_code, username: plan.username };
    case 'update':
      return { row, outcome: 'update', employee_code: plan.next.employee_code, username: plan.next.username, changes: plan.changes.map((change) => change.field) };
    case 'unchanged':
      return { row, outcome: 'unchanged', employee_code: plan.existing.employee_code, username: plan.existing.username };
    case 'error':
      return { row, outcome: 'error', employee_code: values.employee_code, username: values.username };
  }
}

/** A row that never became a plan failed on its cells, its unit or a value repeated: it is named as written. */
const failedReportRow = ({ row, values, written }: ImportRow): ReportRow =>
  ({ row, outcome: 'error', employee_code: values.employee_code ?? written.employee_code ?? null, username: values.username ?? written.username ?? null });

function buildReport(dryRun: boolean, placed: readonly (ReportRow | undefined)[], errors: RowProblem[], warnings: ImportReport['warnings']): ImportReport {
  const rows = placed.filter((row) => row !== undefined);
  assertThat(rows.length === placed.length, () => new Error('a row of the import was never planned'));
  const count = (outcome: ImportOutcome) => rows.filter((row) => row.outcome === outcome).length;
  return {
    dryRun,
    totals: { rows: rows.length, created: count('create'), updated: count('update'), unchanged: count('unchanged'), failed: count('error') },
    rows,
    // Sorting is stable, so a row's problems stay in the order they were found: its cells, repeats, its unit, the plan.
    errors: errors.sort((a, b) => a.row - b.row),
    warnings,
  };
}
