import type Router from '@koa/router';
import type { Middleware } from 'koa';

import { isPermitted } from '../../domain/authorization.ts';
import { applyImport, findImport, stageImport } from '../../domain/import-runs.ts';
import type { ImportReport } from '../../domain/user-import.ts';
import { AppError, assertThat, localizable } from '../../errors.ts';
import type { Translate } from '../../i18n/catalog.ts';
import { requireCsrfToken } from '../csrf.ts';
import { sendCsvDownload, spreadsheetCsv } from '../csv.ts';
import { formBody, uploadBody, type UploadedFile } from '../forms.ts';
import { bodyOf, contextOf, done, render, type AdminConsoleDeps } from './pages.ts';

/** 100,000 people with every column filled come to about 20 MB. */
const maxUploadBytes = 20 * 1024 * 1024;
/** Rows shown on the review page; the downloadable report has them all. */
const shownRows = 500;

/**
 * The import wizard: upload HR's CSV, see the dry run (what each row would do, every error by row
 * and column), apply the same stored file, download the result as a spreadsheet.
 */
export function mountImport(router: Router, deps: AdminConsoleDeps, guard: Middleware[]): void {
  router.get('/import', ...guard, (ctx) => {
    render(deps, ctx, 'admin/import', 'admin.import.title', { run: null, report: null });
  });

  router.post('/import', uploadBody({ maxBytes: maxUploadBytes }), requireCsrfToken, ...guard, async (ctx) => {
    const file = (bodyOf(ctx) as { file?: UploadedFile }).file;
    assertThat(file && file.content.length > 0, () => new AppError('invalid_input', localizable('choose the CSV file to import', 'problem.import.no_file'), 400));
    const run = await stageImport(deps, contextOf(ctx), file);
    ctx.status = 303;
    ctx.redirect(`/admin/import/${run.id}`);
  });

  router.get('/import/:id', ...guard, async (ctx) => {
    const run = await findImport(deps, contextOf(ctx), ctx.params['id'] ?? '');
    const report = run.applied ?? run.dryRun;
    render(deps, ctx, 'admin/import', 'admin.import.title', (t) => ({
      run, report, rows: rowsWithProblems(report, t).slice(0, shownRows), more: Math.max(0, report.rows.length - shownRows),
      mayApply: run.applied === null && report.totals.rows > report.totals.failed && isPermitted(contextOf(ctx).principal, 'users.write'),
    }));
  });

  router.post('/import/:id/apply', formBody(), requireCsrfToken, ...guard, async (ctx) => {
    const run = await applyImport(deps, contextOf(ctx), ctx.params['id'] ?? '');
    done(ctx, `/admin/import/${run.id}`, 'import_applied');
  });

  router.get('/import/:id/report.csv', ...guard, async (ctx) => {
    const run = await findImport(deps, contextOf(ctx), ctx.params['id'] ?? '');
    sendCsvDownload(ctx, `${run.applied ? 'import-result' : 'import-check'}-${run.fileName.replace(/\.csv$/i, '')}.csv`, importReportCsv(run.applied ?? run.dryRun));
  });
}

/** Each row with its problems beside it (in the page's language when given one), errors first: what the admin must fix is at the top. */
function rowsWithProblems(report: ImportReport, t: Translate | null) {
  const problems = new Map<number, { column: string | null; message: string }[]>();
  for (const error of report.errors) {
    const message = t && error.localized ? t(error.localized.key, error.localized.params) : error.message;
    problems.set(error.row, [...(problems.get(error.row) ?? []), { column: error.column, message }]);
  }
  const rows = report.rows.map((row) => ({ ...row, problems: problems.get(row.row) ?? [] }));
  return [...rows.filter((row) => row.outcome === 'error'), ...rows.filter((row) => row.outcome !== 'error')];
}

/** The report as a spreadsheet: a line per row of the file, one more per further problem, then the file's warnings. */
function importReportCsv(report: ImportReport): string {
  const lines = rowsWithProblems(report, null).flatMap((row) => {
    const base = [String(row.row), row.outcome, row.employee_code, row.username, (row.changes ?? []).join(' ')];
    return row.problems.length === 0 ? [[...base, '', '']] : row.problems.map((problem) => [...base, problem.column, problem.message]);
  });
  const warnings = report.warnings.map((warning) => [warning.row === null ? '' : String(warning.row), 'warning', '', '', '', warning.column, warning.message]);
  return spreadsheetCsv(['row', 'outcome', 'employee_code', 'username', 'changes', 'column', 'message'], [...lines, ...warnings]);
}
