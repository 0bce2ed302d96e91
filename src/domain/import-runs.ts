import { claimImportRun, findImportFile, findImportRun, insertImportRun, markImportRunApplied, releaseImportRun } from '../db/queries/import-runs.ts';
import { AppError, assertThat, conflict, localizable } from '../errors.ts';
import type { AdminContext } from './authorization.ts';
import { importUsersAs, type ImportDeps, type ImportReport } from './user-import.ts';

/**
 * The import wizard behind the admin console: the uploaded file is checked (a dry run) and kept,
 * the admin reviews every error by row and column, then applies that same stored file, once. Only
 * the admin who uploaded a file sees it; applying runs the import again from scratch, so anything
 * that changed in between is planned afresh, never applied blind.
 */
export interface ImportRun {
  readonly id: string;
  readonly fileName: string;
  readonly dryRun: ImportReport;
  readonly applied: ImportReport | null;
}

const personOf = (context: AdminContext) => {
  const actor = context.principal.actor;
  assertThat(actor.type === 'user' && actor.id, () => new AppError('forbidden', localizable('the import wizard is for people signed in to the console', 'problem.import.people_only'), 403));
  return actor.id;
};

const notFound = (id: string) => new AppError('not_found', localizable(`no import ${id} of yours; upload the file again`, 'problem.import.not_found'), 404);

export async function stageImport(deps: ImportDeps, context: AdminContext, file: { name: string; content: Buffer }): Promise<ImportRun> {
  const report = await importUsersAs(deps, context, file.content, { dryRun: true, fileName: file.name });
  const id = await insertImportRun(deps.db, { uploadedBy: personOf(context), fileName: file.name, content: file.content, dryRunReport: report });
  return { id, fileName: file.name, dryRun: report, applied: null };
}

export async function findImport(deps: Pick<ImportDeps, 'db'>, context: AdminContext, id: string): Promise<ImportRun> {
  const run = await findImportRun(deps.db, id, personOf(context));
  assertThat(run, notFound(id));
  return {
    id: run.id, fileName: run.file_name, dryRun: run.dry_run_report as unknown as ImportReport, applied: run.applied_report as unknown as ImportReport | null,
  };
}

/**
 * Writes the staged file. The import commits batch by batch (see user-import.ts), so the run is
 * claimed first: a second apply (a double click, a reload) is refused rather than run twice.
 */
export async function applyImport(deps: ImportDeps, context: AdminContext, id: string): Promise<ImportRun> {
  const uploader = personOf(context);
  const run = await findImportRun(deps.db, id, uploader);
  assertThat(run, notFound(id));
  assertThat(await claimImportRun(deps.db, id, uploader), conflict(localizable('this file was already applied, or is being applied; its report is on this page', 'problem.import.already_applied')));
  let report: ImportReport;
  try {
    report = await importUsersAs(deps, context, await findImportFile(deps.db, id), { dryRun: false, fileName: run.file_name });
  } catch (error) {
    await releaseImportRun(deps.db, id);
    throw error;
  }
  await markImportRunApplied(deps.db, id, report);
  return { id, fileName: run.file_name, dryRun: run.dry_run_report as unknown as ImportReport, applied: report };
}
