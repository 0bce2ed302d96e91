import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';

import { CsvError, parse } from 'csv-parse';
import type { z } from 'zod';

import { invalidInput, localizable, localizedIssue, problemOfKind, said, type AppError, type LocalizedMessage } from '../errors.ts';
import {
  emailSchema,
  employeeCodeSchema,
  foldVietnamese,
  fullNameSchema,
  nationalIdSchema,
  orgUnitCodeSchema,
  phoneSchema,
  positionSchema,
  usernameSchema,
} from './person-fields.ts';

/**
 * Reading the CSV that HR exports: whatever the spreadsheet saved (BOM or not, "," or ";", composed
 * or decomposed Vietnamese, blank rows), into one validated record per row, with every problem
 * named by its row, as the spreadsheet numbers rows (the header is row 1), and its column, as the
 * file's header names it.
 */

export const importFields = [
  'employee_code', 'full_name', 'username', 'email', 'phone', 'org_unit_code', 'position', 'national_id',
] as const;
export type ImportField = (typeof importFields)[number];

/**
 * The names a column goes by: its English name, then the headers HR's spreadsheets use. Headers
 * match without regard to case, diacritics, spaces or punctuation ("MÃ CÁN BỘ", "ma_can_bo").
 */
const headerNames: Readonly<Record<ImportField, readonly string[]>> = {
  employee_code: ['employee_code', 'Mã cán bộ', 'Mã nhân viên'],
  full_name: ['full_name', 'Họ và tên', 'Họ tên'],
  username: ['username', 'Tên đăng nhập'],
  email: ['email', 'E-mail', 'Thư điện tử'],
  phone: ['phone', 'Số điện thoại', 'Điện thoại'],
  org_unit_code: ['org_unit_code', 'Mã đơn vị'],
  position: ['position', 'Chức vụ'],
  national_id: ['national_id', 'Số CCCD', 'CCCD'],
};

const fieldSchemas: Readonly<Record<ImportField, z.ZodType<string, string>>> = {
  employee_code: employeeCodeSchema,
  full_name: fullNameSchema,
  username: usernameSchema,
  email: emailSchema,
  phone: phoneSchema,
  org_unit_code: orgUnitCodeSchema,
  position: positionSchema,
  national_id: nationalIdSchema,
};

/** Something wrong with one row, in one column (null: the row as a whole); `localized` is for the review page, as on an AppError. */
export interface RowProblem {
  readonly row: number;
  readonly column: string | null;
  readonly message: string;
  readonly localized?: LocalizedMessage | undefined;
}


/** A cell's problem for the review page: the schema's own catalog entry, else zod's problem by its kind. */
const importProblem = (issue: z.core.$ZodIssue | undefined) => (issue === undefined ? undefined : localizedIssue(issue) ?? problemOfKind(issue));

/** Something worth knowing that stops nothing; row null for the file as a whole. */
export interface ImportWarning {
  readonly row: number | null;
  readonly column: string | null;
  readonly message: string;
  readonly localized?: LocalizedMessage | undefined;
}

/** A row's values, validated and normalized; null where the cell was blank (or the column absent). */
export type ImportValues = Readonly<Record<ImportField, string | null>>;

/** The cells a report names a row by. */
type RowKeyField = 'employee_code' | 'username';

/**
 * One non-blank row: the values of its valid cells and what was wrong with it. Of the cells as
 * written only the key cells whose values failed are kept, so that the report can still name the
 * row: a reader that holds a province's rows (the directory merge) would hold every cell twice.
 */
export interface ImportRow {
  readonly row: number;
  readonly values: ImportValues;
  readonly written: Readonly<Partial<Record<RowKeyField, string>>>;
  readonly errors: readonly RowProblem[];
}

/** A whole file's rows at once, for a reader that needs them all (the directory merge's staging). */
export interface ImportFile {
  /** Each field the file has, with its header as written in the file. */
  readonly columns: Readonly<Partial<Record<ImportField, string>>>;
  readonly rows: ImportRow[];
  readonly warnings: ImportWarning[];
}

/**
 * A file that cannot be imported at all (not CSV, not UTF-8, a required column missing): an
 * invalid_input AppError (400) whose message says what was wrong and, where it can, how to save it.
 */
export function unreadableImportFile(problem: string): AppError {
  return invalidInput(problem);
}

/**
 * A file whose bytes and header have been checked, read row by row as often as a reader needs: the
 * import reads it twice rather than hold a province's rows. Only the bytes are held; as one string
 * (one Vietnamese letter makes a whole string two bytes a character) they would be twice the size.
 */
export interface ImportSource {
  readonly bytes: Buffer;
  readonly delimiter: ',' | ';';
  readonly header: Header;
  /** Each field the file has, with its header as written in the file. */
  readonly columns: Readonly<Partial<Record<ImportField, string>>>;
  /** Positions of columns without a header that a row read so far had something in. */
  readonly unnamedWithData: Set<number>;
}

/** Checks a file and reads its header. Throws an invalid_input AppError for a file that cannot be read as an import. */
export async function openImportFile(csv: Buffer | string): Promise<ImportSource> {
  const bytes = checkedBytes(typeof csv === 'string' ? Buffer.from(csv, 'utf8') : csv);
  const delimiter = detectDelimiter(bytes);
  for await (const { record, row } of recordsOf(bytes, delimiter)) {
    if (isBlank(record)) continue;
    const header = readHeader(record, row);
    return { bytes, delimiter, header, columns: header.columns, unnamedWithData: new Set() };
  }
  throw unreadableImportFile('the file is empty: it needs a header row and one row per person');
}

/** The rows below the header, read and validated one at a time; blank ones are skipped but counted in row numbers. */
export async function* importRows(source: ImportSource): AsyncGenerator<ImportRow> {
  const { header } = source;
  for await (const { record, row } of recordsOf(source.bytes, source.delimiter)) {
    if (row <= header.row || isBlank(record)) continue;
    for (const position of header.unnamed) if (record[position]?.trim()) source.unnamedWithData.add(position);
    yield readRow(record, row, header, source.delimiter);
  }
}

/** Unknown columns, and unnamed ones with data in the rows read so far: read them after a pass over the rows. */
export function importWarnings(source: ImportSource): ImportWarning[] {
  const { header } = source;
  return [
    ...header.warnings,
    ...[...source.unnamedWithData].map((position) => ({
      row: header.row, column: null,
      ...said(localizable(`column ${position + 1} has values but no header; it is ignored`, 'import.warning.unnamed_column', { column: String(position + 1) })),
    })),
  ];
}

/** Reads and validates a whole file into memory. Throws an invalid_input AppError for a file that cannot be read as an import. */
export async function readImportFile(csv: Buffer | string): Promise<ImportFile> {
  const source = await openImportFile(csv);
  const rows: ImportRow[] = [];
  for await (const row of importRows(source)) rows.push(row);
  return { columns: source.columns, rows, warnings: importWarnings(source) };
}

const startsWith = (bytes: Buffer, prefix: readonly number[]) => prefix.every((byte, index) => bytes[index] === byte);
const byteOrderMark = [0xef, 0xbb, 0xbf];
/** U+FFFD in UTF-8: what a program that decoded bytes that were not UTF-8 left in their place. */
const replacementCharacter = Buffer.from('\uFFFD', 'utf8');

/**
 * Excel's "Save as" offers many encodings; only UTF-8 keeps Vietnamese intact, so the others are
 * named and refused. Returns the file without its byte-order mark (a view, not a copy).
 */
function checkedBytes(csv: Buffer): Buffer {
  if (startsWith(csv, [0x50, 0x4b, 0x03, 0x04])) {
    throw unreadableImportFile('the file is an Excel workbook (.xlsx), not CSV: save it as "CSV UTF-8 (Comma delimited)"');
  }
  if (startsWith(csv, [0xd0, 0xcf, 0x11, 0xe0])) {
    throw unreadableImportFile('the file is an old Excel workbook (.xls), not CSV: save it as "CSV UTF-8 (Comma delimited)"');
  }
  if (startsWith(csv, [0xff, 0xfe]) || startsWith(csv, [0xfe, 0xff])) {
    throw unreadableImportFile('the file is UTF-16 ("Unicode Text"), not UTF-8: save it as "CSV UTF-8 (Comma delimited)"');
  }
  if (!isUtf8(csv) || csv.includes(replacementCharacter)) throw unreadableImportFile(notUtf8);
  if (csv.includes(0)) throw unreadableImportFile('the file is not a text file: save the spreadsheet as "CSV UTF-8 (Comma delimited)"');
  return startsWith(csv, byteOrderMark) ? csv.subarray(byteOrderMark.length) : csv;
}

const notUtf8 = 'the file is not UTF-8 (perhaps Windows-1258 or TCVN3): save it as "CSV UTF-8 (Comma delimited)"';

/** The separator is whichever of "," and ";" the first line with anything on it uses more, outside quotes. */
function detectDelimiter(bytes: Buffer): ',' | ';' {
  let start = 0;
  let headerLine = '';
  while (start < bytes.length && headerLine.trim() === '') {
    const end = bytes.indexOf(0x0a, start);
    headerLine = bytes.toString('utf8', start, end === -1 ? bytes.length : end);
    start = end === -1 ? bytes.length : end + 1;
  }
  let commas = 0;
  let semicolons = 0;
  let quoted = false;
  for (const character of headerLine) {
    if (character === '"') quoted = !quoted;
    else if (!quoted && character === ',') commas += 1;
    else if (!quoted && character === ';') semicolons += 1;
  }
  return semicolons > commas ? ';' : ',';
}

/** The parser is fed this much at a time, so that it holds a few hundred records, not the file's. */
const sliceBytes = 64 * 1024;

/** Each record in turn with its spreadsheet row: blank lines count, a line break inside quotes does not. */
async function* recordsOf(bytes: Buffer, delimiter: string): AsyncGenerator<{ record: string[]; row: number }> {
  const parser = parse({
    delimiter,
    // Spreadsheets end lines as Windows, Unix or old Mac OS do, and a file pasted together can mix them.
    record_delimiter: ['\r\n', '\n', '\r'],
    // A short row is padded and a long one reported per row, rather than the whole file refused.
    relax_column_count: true,
    // A stray quote inside an unquoted cell (Nguyễn Văn "Tí") is kept as written.
    relax_quotes: true,
  });
  Readable.from(slicesOf(bytes), { objectMode: false }).pipe(parser);
  let row = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      row += 1;
      yield { record, row };
    }
  } catch (error) {
    if (error instanceof CsvError) throw unreadableImportFile(`the file cannot be read as CSV: ${error.message}`);
    throw error;
  } finally {
    parser.destroy();
  }
}

function* slicesOf(bytes: Buffer): Generator<Buffer> {
  for (let start = 0; start < bytes.length; start += sliceBytes) yield bytes.subarray(start, start + sliceBytes);
}

const isBlank = (record: readonly string[]) => record.every((cell) => cell.trim() === '');

/** A header's comparable form: no case, no diacritics, words joined by "_". */
function headerKey(name: string): string {
  return foldVietnamese(name)
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
}

const fieldByHeaderKey = new Map<string, ImportField>(
  importFields.flatMap((field) => headerNames[field].map((name) => [headerKey(name), field] as const)),
);

interface Header {
  /** Its spreadsheet row: the first that is not blank. */
  readonly row: number;
  readonly columns: Partial<Record<ImportField, string>>;
  /** Where each field's cells are in a record. */
  readonly positions: ReadonlyMap<ImportField, number>;
  /** Header cells left empty: their columns are ignored, with a warning if they hold anything. */
  readonly unnamed: readonly number[];
  readonly width: number;
  readonly warnings: ImportWarning[];
}

function readHeader(record: readonly string[], row: number): Header {
  const columns: Partial<Record<ImportField, string>> = {};
  const positions = new Map<ImportField, number>();
  const unnamed: number[] = [];
  const warnings: ImportWarning[] = [];
  record.forEach((cell, position) => {
    const name = cell.normalize('NFC').trim();
    if (name === '') {
      unnamed.push(position);
      return;
    }
    const field = fieldByHeaderKey.get(headerKey(name));
    if (field === undefined) {
      warnings.push({ row, column: name, ...said(localizable(`unknown column "${name}" is ignored`, 'import.warning.unknown_column', { name })) });
      return;
    }
    const earlier = columns[field];
    if (earlier !== undefined) throw unreadableImportFile(`the columns "${earlier}" and "${name}" are both ${field}: keep one of them`);
    columns[field] = name;
    positions.set(field, position);
  });
  const named = (field: ImportField) => `${field} ("${headerNames[field][1]!}")`;
  const missing = (['full_name', 'org_unit_code'] as const).filter((field) => columns[field] === undefined).map(named);
  if (columns.employee_code === undefined && columns.username === undefined) missing.unshift(`${named('employee_code')} or ${named('username')}`);
  if (missing.length > 0) {
    const read = record.map((cell) => cell.trim()).filter(Boolean).join(' | ');
    throw unreadableImportFile(`the header row (row ${row}) has no column for ${missing.join(', ')}; it reads: ${read}`);
  }
  return { row, columns, positions, unnamed, width: record.length, warnings };
}

function readRow(record: readonly string[], row: number, header: Header, delimiter: string): ImportRow {
  const values: Record<ImportField, string | null> = {
    employee_code: null, full_name: null, username: null, email: null, phone: null, org_unit_code: null, position: null, national_id: null,
  };
  const filled = new Set<ImportField>();
  let written: Partial<Record<RowKeyField, string>> = noCells;
  const errors: RowProblem[] = [];
  if (record.slice(header.width).some((cell) => cell.trim() !== '')) {
    errors.push({
      row,
      column: null,
      message: `the row has ${record.length} cells but the header has ${header.width}: a value containing "${delimiter}" must be in double quotes`,
    });
  }
  for (const [field, position] of header.positions) {
    const cell = (record[position] ?? '').normalize('NFC');
    if (cell.trim() === '') continue;
    filled.add(field);
    const parsed = fieldSchemas[field].safeParse(cell);
    if (parsed.success) {
      values[field] = parsed.data;
      continue;
    }
    errors.push({ row, column: header.columns[field]!, message: parsed.error.issues[0]?.message ?? `not a valid ${field}`, localized: importProblem(parsed.error.issues[0]) });
    if (field === 'employee_code' || field === 'username') written = { ...written, [field]: cell.trim() };
  }
  const column = (field: ImportField) => header.columns[field] ?? null;
  if (!filled.has('full_name')) errors.push({ row, column: column('full_name'), ...said(localizable('a full name is required', 'problem.import.full_name_missing')) });
  if (!filled.has('org_unit_code')) errors.push({ row, column: column('org_unit_code'), ...said(localizable('a unit code is required', 'problem.import.unit_code_missing')) });
  if (!filled.has('employee_code') && !filled.has('username')) {
    errors.push({
      row,
      column: column('employee_code') ?? column('username'),
      ...(header.columns.username === undefined
        ? said(localizable('an employee code is required', 'problem.import.employee_code_missing'))
        : said(localizable('an employee code or a username is required', 'problem.import.key_missing'))),
    });
  }
  return { row, values, written, errors: errors.length === 0 ? noProblems : errors };
}

/** What most rows share: nothing kept as written, nothing wrong. */
const noCells: Readonly<Partial<Record<RowKeyField, string>>> = Object.freeze({});
const noProblems: readonly RowProblem[] = Object.freeze([]);
