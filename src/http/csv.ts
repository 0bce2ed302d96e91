import { stringify } from 'csv-stringify/sync';
import type { Context } from 'koa';

/** A cell that a spreadsheet would run as a formula is defused with a leading apostrophe. */
const defused = (value: string) => (/^[=+\-@\t\r]/.test(value) ? `'${value}` : value);

/**
 * CSV that admins open in Excel or LibreOffice: a byte-order mark so that Vietnamese reads as
 * UTF-8, and no cell that the spreadsheet would run as a formula (a name typed as "=HYPERLINK(…)").
 */
export function spreadsheetCsv(header: readonly string[], rows: readonly (readonly (string | null | undefined)[])[]): string {
  return `\uFEFF${stringify([header, ...rows.map((row) => row.map((value) => defused(value ?? '')))])}`;
}

/** A console download: the CSV as an attachment named `filename`, never cached (it holds people's data). */
export function sendCsvDownload(ctx: Context, filename: string, csv: string): void {
  ctx.type = 'text/csv; charset=utf-8';
  ctx.attachment(filename);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = csv;
}
