import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { apiClient, buildProvinceTree, serviceCaller, type ProvinceTree } from '../support/admin-api.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import {
  describeRequest,
  expectApiErrorShape,
  expectNoServerError,
  fuzzParameters,
  fuzzTestTimeoutMs,
  hostileString,
  percentEncode,
  rawRequest,
  type RawRequest,
} from './http-fuzz.ts';

/**
 * The bulk import's dry run fed whatever HR's spreadsheets (or anyone else) might produce: headers
 * in English, Vietnamese, any case or order, repeated or unknown; cells valid, invalid or hostile;
 * quotes balanced or not; any line ending, delimiter, byte-order mark or encoding. The answer is a
 * report or a 4xx in the API's error shape, never a 5xx, and a dry run writes nothing.
 */

let server: TestServer;
let tree: ProvinceTree;
const tokens = { superAdmin: '', unitAdmin: '' };

beforeAll(async () => {
  server = await startTestServer();
  tree = await buildProvinceTree(server);
  tokens.superAdmin = (await serviceCaller(server, 'super_admin', null, 'Sở Nội vụ')).token;
  tokens.unitAdmin = (await serviceCaller(server, 'org_admin', tree.caiBe, 'Phòng Nội vụ huyện Cái Bè')).token;
  // People already there, so that rows can match them (updates, unchanged rows, taken usernames).
  const api = apiClient(server, tokens.superAdmin);
  for (const person of [
    { full_name: 'Trương Văn Sáu', employee_code: 'CB-0001', username: 'truongvansau', org_unit_id: tree.anHuu.id },
    { full_name: 'Lý Thị Bảy', employee_code: 'CB-0002', email: 'bay@tiengiang.gov.vn', org_unit_id: tree.binhPhan.id },
  ]) expect((await api('POST', '/users', person)).status).toBe(201);
});

afterAll(async () => {
  await server?.stop();
});

/** The names a column goes by, right and wrong: English, Vietnamese (composed, decomposed, shouted), and names nobody knows. */
const headerNames: Record<string, readonly string[]> = {
  employee_code: ['employee_code', 'Mã cán bộ', 'MÃ CÁN BỘ', 'ma_can_bo', 'Mã nhân viên', 'Ma\u0303 ca\u0301n bô\u0323'],
  full_name: ['full_name', 'Họ và tên', 'HỌ TÊN', 'Họ tên'],
  username: ['username', 'Tên đăng nhập'],
  email: ['email', 'Thư điện tử', 'E-mail'],
  phone: ['phone', 'Số điện thoại', 'Điện thoại'],
  org_unit_code: ['org_unit_code', 'Mã đơn vị', 'MA DON VI'],
  position: ['position', 'Chức vụ'],
  national_id: ['national_id', 'Số CCCD', 'CCCD'],
  unknown: ['Ghi chú', 'Ngày sinh', '', ' ', '=1+1', '__proto__', 'constructor'],
};
const columns = Object.keys(headerNames);

/** Values a cell of each column might hold: right, almost right, and wrong. */
const cellValues = (): Record<string, readonly string[]> => ({
  employee_code: ['CB-0001', 'cb-0001', 'CB-0002', 'CB-0099', 'CB/0100', 'CB 0101', ''],
  full_name: ['Nguyễn Văn Chín', 'Nguyễn  Văn   Chín', 'Nguye\u0302\u0303n Va\u0306n Mu\u031Bo\u031B\u0300i', 'Lý Thị Bảy', ''],
  username: ['truongvansau', 'TRUONGVANSAU', 'nguyenvanchin', 'a', '-x', ''],
  email: ['chin@tiengiang.gov.vn', 'BAY@TIENGIANG.GOV.VN', 'not-an-email', ''],
  phone: ['0912 345 678', '+84 273 3873 123', '84912345678', '12345', ''],
  org_unit_code: [tree.anHuu.code, tree.choGao.code, tree.caiBe.code.toLowerCase(), 'TG.KHONGCO', ''],
  position: ['Chuyên viên', 'Trưởng trạm', ''],
  national_id: ['082095000123', '082 095 000 123', '999095000123', '12345', ''],
  unknown: ['ghi chú', '01/01/1990', ''],
});

/** A cell as a spreadsheet writes it: bare, quoted, or broken. */
function writeCell(value: string, delimiter: string, quoting: number): string {
  if (quoting === 0) return value;
  if (quoting === 1) return `"${value.replace(/"/g, '""')}"`;
  // An opened quote that never closes, or a quote in the middle: what hand-edited files contain.
  return quoting === 2 ? `"${value}` : `${value}"${delimiter}`;
}

interface CsvFile {
  readonly columns: readonly string[];
  readonly headers: readonly string[];
  readonly rows: readonly (readonly string[])[];
  readonly delimiter: string;
  readonly lineEnd: string;
  readonly bom: boolean;
  readonly quoting: readonly number[];
  /** utf8, or bytes an import must refuse: another encoding, an Excel workbook, a stray invalid byte. */
  readonly encoding: 'utf8' | 'utf16le' | 'latin1' | 'xlsx' | 'stray-byte';
}

/**
 * Hostile text for a cell. Mostly text a file can carry (a NUL or a lone surrogate makes the whole
 * file unreadable, which the import says at once, so those get only a share of the runs).
 */
const hostileCell = fc.oneof(
  { arbitrary: hostileString.map((value) => value.replaceAll('\u0000', '').toWellFormed()), weight: 4 },
  { arbitrary: hostileString, weight: 1 },
);

/** The columns: usually the required ones and some others in any order, sometimes any at all. */
const chosenColumns = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.subarray(['username', 'email', 'phone', 'position', 'national_id', 'unknown']), fc.constantFrom('employee_code', 'username'))
      .map(([optional, key]) => [...new Set(['full_name', 'org_unit_code', key, ...optional])])
      .chain((all) => fc.shuffledSubarray(all, { minLength: all.length })),
    weight: 5,
  },
  { arbitrary: fc.array(fc.constantFrom(...columns), { maxLength: 9 }), weight: 1 },
);

const csvFile: fc.Arbitrary<CsvFile> = fc
  .record({
    columns: chosenColumns,
    rowCount: fc.nat({ max: 8 }),
    delimiter: fc.constantFrom(',', ',', ',', ';', ';', '\t'),
    lineEnd: fc.constantFrom('\n', '\r\n', '\r', '\n\n'),
    bom: fc.boolean(),
    encoding: fc.oneof({ arbitrary: fc.constant<CsvFile['encoding']>('utf8'), weight: 12 }, fc.constantFrom<CsvFile['encoding']>('utf16le', 'latin1', 'xlsx', 'stray-byte')),
  })
  .chain(({ columns: chosen, rowCount, ...layout }) => fc.record({
    columns: fc.constant(chosen),
    headers: fc.tuple(...chosen.map((column) => fc.oneof({ arbitrary: fc.constantFrom(...headerNames[column]!), weight: 12 }, hostileCell))),
    rows: fc.array(
      fc.tuple(...chosen.map((column) => fc.oneof({ arbitrary: fc.constantFrom(...cellValues()[column]!), weight: 8 }, hostileCell))),
      { minLength: rowCount, maxLength: rowCount },
    ),
    quoting: fc.array(fc.oneof({ arbitrary: fc.constant(0), weight: 12 }, { arbitrary: fc.constant(1), weight: 6 }, fc.constantFrom(2, 3)), { minLength: 1, maxLength: 12 }),
    delimiter: fc.constant(layout.delimiter),
    lineEnd: fc.constant(layout.lineEnd),
    bom: fc.constant(layout.bom),
    encoding: fc.constant(layout.encoding),
  }));

/** The file's bytes. */
function bytesOf(file: CsvFile): Buffer {
  let cell = 0;
  const line = (values: readonly string[]) => values.map((value) => writeCell(value, file.delimiter, file.quoting[cell++ % file.quoting.length]!)).join(file.delimiter);
  const text = `${file.bom ? '\uFEFF' : ''}${[line(file.headers), ...file.rows.map(line)].join(file.lineEnd)}`;
  if (file.encoding === 'utf16le') return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
  if (file.encoding === 'latin1') return Buffer.from(text, 'latin1');
  if (file.encoding === 'xlsx') return Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.from(text)]);
  if (file.encoding === 'stray-byte') return Buffer.concat([Buffer.from(text), Buffer.from([0xc3, 0x28]), Buffer.from(file.lineEnd)]);
  return Buffer.from(text);
}

/** How much the import could have written, to compare before and after. */
async function footprint() {
  const count = async (table: 'users' | 'account_tokens' | 'mail_outbox') =>
    Number((await server.database.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow()).count);
  const versions = await server.database.db.selectFrom('users').select(sql<string>`coalesce(sum(version), 0)::text`.as('total')).executeTakeFirstOrThrow();
  return { users: await count('users'), versions: Number(versions.total), tokens: await count('account_tokens'), mails: await count('mail_outbox') };
}

const importRequest = fc.record({
  file: csvFile,
  caller: fc.constantFrom<keyof typeof tokens>('superAdmin', 'superAdmin', 'unitAdmin'),
  contentType: fc.oneof({ arbitrary: fc.constant('text/csv'), weight: 8 }, fc.constantFrom('text/csv; charset=utf-8', 'text/plain', 'text/csv; charset=latin1')),
  fileName: fc.option(fc.oneof(fc.constant('nhan-su.csv'), hostileString), { nil: undefined, freq: 4 }),
});

describe('the bulk import under fuzzed files', () => {
  it('answers any file, in a dry run, with a report or a JSON 4xx, never a 5xx, and writes nothing', async () => {
    const before = await footprint();
    await fc.assert(
      fc.asyncProperty(importRequest, async ({ file, caller, contentType, fileName }) => {
        const query = `dry_run=true${fileName === undefined ? '' : `&file_name=${percentEncode(fileName)}`}`;
        const request: RawRequest = {
          method: 'POST',
          target: `/api/v1/users/import?${query}`,
          headers: [['Authorization', `Bearer {${caller}}`], ['Content-Type', contentType]],
          body: bytesOf(file),
        };
        const response = await rawRequest(server.issuer, {
          ...request,
          headers: [['Authorization', `Bearer ${tokens[caller]}`], ['Content-Type', contentType]],
        });
        expectNoServerError(response, request);
        if (response.status >= 400) {
          expectApiErrorShape(response, request);
          return;
        }
        const report = JSON.parse(response.text) as { dry_run: boolean; totals: { rows: number; failed: number }; rows: unknown[] };
        const where = `${describeRequest(request)}\n→ ${response.text.slice(0, 600)}`;
        expect(response.status, where).toBe(200);
        expect(report.dry_run, where).toBe(true);
        expect(report.rows.length, where).toBe(report.totals.rows);
      }),
      fuzzParameters(200),
    );
    expect(await footprint()).toEqual(before);
  }, fuzzTestTimeoutMs);
});
