import type { ReorganizationReport } from '../domain/reorganization-report.ts';
import { spreadsheetCsv } from './csv.ts';

const roles = (value: readonly string[] | null) => (value === null ? '—' : value.length === 0 ? '✓' : value.join(' '));

/**
 * A plan's dry run as one spreadsheet, for the API and the console alike: a line per unit, per
 * person and app, per group, per right carried over, per loss and per gain, so that an inspector
 * can file it and a unit can check its own people.
 */
export function reorganizationReportCsv(report: ReorganizationReport): string {
  const lines: (string | null)[][] = [];
  for (const unit of report.units) {
    lines.push(['unit', unit.before?.code ?? '', unit.before?.path_codes.join('/') ?? '', unit.after.code, `${unit.after.path_codes.join('/')} (${unit.after.status})`, unit.after.name, [unit.successor_code ? `successor ${unit.successor_code}` : '', ...unit.notes.map((note) => note.message)].filter(Boolean).join('; ')]);
  }
  for (const person of report.people) {
    const base = ['person', `${person.full_name} (${person.username})`, person.unit_before?.path_codes.join('/') ?? '', person.unit_after?.path_codes.join('/') ?? ''];
    if (person.apps.length === 0) lines.push([...base, '', '', '', '']);
    for (const app of person.apps) lines.push([...base, app.client_name, roles(app.before), roles(app.after)]);
  }
  for (const group of report.groups) lines.push(['group', group.name_before, group.unit_before, group.unit_after, group.name_after, '', '']);
  for (const right of report.app_assignments) lines.push(['app_assignment', right.holder, right.unit_before, right.units_after.join(' '), right.what, '', right.notes.map((note) => note.message).join('; ')]);
  for (const right of report.role_assignments) lines.push(['role_assignment', right.holder, right.unit_before, right.units_after.join(' '), right.what, '', right.notes.map((note) => note.message).join('; ')]);
  for (const loss of report.losses) lines.push(['loss', loss.kind, '', '', '', '', loss.message]);
  for (const conflict of report.sod_conflicts) lines.push(['sod_conflict', '', '', '', '', '', conflict.message]);
  for (const gain of report.gains) lines.push(['gain', '', '', '', '', '', gain.message]);
  return spreadsheetCsv(['what', 'who_or_which', 'before', 'after', 'detail', 'detail_after', 'notes'], lines);
}
