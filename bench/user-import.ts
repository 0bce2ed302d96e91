/**
 * Measures the bulk import: an HR file of N people (18,000 by default, as the province has) read,
 * planned and written on a fresh database, then imported again (every row unchanged). Prints a
 * markdown table. Not a test: timings belong here, never in a test with a timer.
 *
 *   npm run bench:import                      # PostgreSQL at DATABASE_URL (default: the local server)
 *   npm run bench:import -- --rows 100000
 *   npm run bench:import -- --embedded        # PGlite in a temporary directory
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import pg from 'pg';

import { openDatabase, type DatabaseHandle } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { insertOrgUnit } from '../src/db/queries/org-units.ts';
import type { OrgUnit } from '../src/db/schema.ts';
import { noOrigin, systemActor, verifyAuditChain } from '../src/domain/audit.ts';
import { importUsers, type ImportReport } from '../src/domain/user-import.ts';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '18000' }, embedded: { type: 'boolean', default: false } },
});
const rows = Number(values.rows);

const families = ['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Huỳnh', 'Phan', 'Võ', 'Đặng', 'Bùi', 'Đỗ', 'Hồ', 'Ngô', 'Dương', 'Lý'];
const middles = ['Văn', 'Thị', 'Đức', 'Ngọc', 'Minh', 'Thanh', 'Hoàng', 'Thu', 'Quốc', 'Kim'];
const givens = ['An', 'Anh', 'Ánh', 'Bình', 'Châu', 'Dũng', 'Đạt', 'Hà', 'Hải', 'Hoa', 'Hùng', 'Lan', 'Linh', 'Long', 'Mai', 'Nam', 'Ngân', 'Phúc', 'Quân', 'Tâm', 'Thảo', 'Trang', 'Tuấn', 'Tuyết', 'Vy', 'Yến'];

async function openTarget(): Promise<{ database: DatabaseHandle; dispose: () => Promise<void>; kind: string }> {
  if (values.embedded) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mekong-bench-'));
    const database = await openDatabase({ kind: 'pglite', dataDir });
    return { database, kind: 'PGlite', dispose: async () => { await database.close(); fs.rmSync(dataDir, { recursive: true, force: true }); } };
  }
  const url = new URL(process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const name = `mekong_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: url.href });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const target = new URL(url.href);
  target.pathname = `/${name}`;
  const database = await openDatabase({ kind: 'postgres', url: target.href }, { poolSize: 4 });
  return {
    database,
    kind: 'PostgreSQL',
    dispose: async () => {
      await database.close();
      await admin.query(`drop database ${name}`);
      await admin.end();
    },
  };
}

/** 11 districts of 15 communes each: people spread over 176 units, as in the province. */
async function buildTree(database: DatabaseHandle): Promise<OrgUnit[]> {
  const province = await insertOrgUnit(database.db, { code: 'TG', name: 'Ủy ban nhân dân tỉnh Tiền Giang', kind: 'province', parent: null });
  const units: OrgUnit[] = [province];
  for (let d = 1; d <= 11; d += 1) {
    const district = await insertOrgUnit(database.db, { code: `TG.D${d}`, name: `Ủy ban nhân dân huyện số ${d}`, kind: 'district', parent: province });
    units.push(district);
    for (let c = 1; c <= 15; c += 1) {
      units.push(await insertOrgUnit(database.db, { code: `TG.D${d}.X${c}`, name: `Ủy ban nhân dân xã số ${c}`, kind: 'commune', parent: district }));
    }
  }
  return units;
}

function hrFile(units: readonly OrgUnit[]): string {
  const lines = ['Mã cán bộ;Họ và tên;Email;Số điện thoại;Mã đơn vị;Chức vụ;Số CCCD'];
  for (let n = 1; n <= rows; n += 1) {
    const name = `${families[n % families.length]!} ${middles[(n >> 3) % middles.length]!} ${givens[(n * 7) % givens.length]!}`;
    const cccd = `0821${String(80 + (n % 20)).padStart(2, '0')}${String(n).padStart(6, '0')}`;
    lines.push([`TG-${String(n).padStart(6, '0')}`, name.normalize('NFD'), `nv${n}@tiengiang.gov.vn`, `09${String(10_000_000 + n).slice(-8)}`,
      units[n % units.length]!.code, 'Chuyên viên', cccd].join(';'));
  }
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}

async function timed(run: () => Promise<ImportReport>): Promise<{ seconds: number; report: ImportReport }> {
  const started = performance.now();
  const report = await run();
  return { seconds: (performance.now() - started) / 1000, report };
}

const { database, dispose, kind } = await openTarget();
try {
  await migrateToLatest(database.db);
  const units = await buildTree(database);
  const csv = hrFile(units);
  const deps = { db: database.db, masterKey: randomBytes(32) };
  const options = { actor: systemActor, origin: noOrigin, allowedSubtrees: null, fileName: 'bench.csv' };

  const dryRun = await timed(() => importUsers(deps, csv, { ...options, dryRun: true }));
  const apply = await timed(() => importUsers(deps, csv, { ...options, dryRun: false }));
  const rerun = await timed(() => importUsers(deps, csv, { ...options, dryRun: false }));
  const verifyStarted = performance.now();
  const chain = await verifyAuditChain(database.db);
  const verifySeconds = (performance.now() - verifyStarted) / 1000;

  const line = (step: string, result: { seconds: number; report: ImportReport }) =>
    `| ${step} | ${result.seconds.toFixed(2)} | ${Math.round(rows / result.seconds)} | ${result.report.totals.created} | ${result.report.totals.updated} | ${result.report.totals.unchanged} | ${result.report.totals.failed} |`;
  console.log(`\nBulk import of ${rows} people on ${kind} (${os.cpus().length} cores)\n`);
  console.log('| step | seconds | rows/s | created | updated | unchanged | failed |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  console.log(line('dry run', dryRun));
  console.log(line('apply', apply));
  console.log(line('rerun (idempotent)', rerun));
  console.log(`\naudit chain: ${chain.ok ? 'intact' : 'BROKEN'}, ${chain.checked} events verified in ${verifySeconds.toFixed(2)} s`);
  if (apply.report.totals.created !== rows || rerun.report.totals.unchanged !== rows || !chain.ok) process.exitCode = 1;
} finally {
  await dispose();
}
