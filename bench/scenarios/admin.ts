import os from 'node:os';

import type autocannon from 'autocannon';

import type { AuditChainReport } from '../../src/domain/audit.ts';
import { demoPeopleCsv } from '../../src/domain/demo-province.ts';
import { foldVietnamese } from '../../src/domain/person-fields.ts';
import type { LoadResult } from '../load/latency.ts';
import { tokenRequest } from '../load/relying-party.ts';
import { runSingleRequests } from '../load/single-requests.ts';
import type { Population } from '../seed.ts';
import { observe, warmThenMeasure, type Measurement, type Timing } from './measurement.ts';
import { probe } from './probe.ts';
import type { MekongIdTarget } from './target.ts';

/** A fresh admin-API token for the service client (they live ten minutes). */
async function serviceToken(target: MekongIdTarget): Promise<string> {
  const tokens = await tokenRequest(target.connections, target.serviceClient, {
    grant_type: 'client_credentials', resource: target.apiResource, scope: 'api',
  });
  return tokens.access_token;
}

/**
 * What an administrator types into the search box, without diacritics: common name pairs that match
 * a large share of the province ("nguyen van" is most of the men named Nguyễn), and fuller names
 * that match a handful. The generator's names have the province's real frequencies.
 */
export const searchQueries = [
  'nguyen van', 'tran thi', 'le minh', 'pham ngoc', 'huynh thi thuy', 'vo van tai', 'dang', 'bui thanh', 'ho thi', 'duong van hung',
] as const;

/** Administrators searching at once: four per core. */
export const searchConcurrency = 4 * os.availableParallelism();

/** Scenario 6: the admin API's user list searched by `q`, accent-insensitively, as a global administrator. */
export async function measureAdminSearch(target: MekongIdTarget, timing: Timing, usersInDatabase: number): Promise<Measurement> {
  const authorization = `Bearer ${await serviceToken(target)}`;
  const requests = searchQueries.map((q): autocannon.Request => ({
    method: 'GET', path: `/api/v1/users?q=${encodeURIComponent(q)}`, headers: { authorization },
  }));
  // The point of the scenario: "nguyen van" must find people written with their diacritics, such as
  // "Nguyễn Văn Hùng" or "Nguyễn Bích Vân" (the words may be anywhere), or it measures a search that does not work.
  const page = (await probe(target.origin, requests[0]!, 'admin_search')) as { items?: { full_name?: unknown; username?: unknown }[] };
  const found = (page.items ?? []).map((item) => `${String(item.full_name)} ${String(item.username)}`);
  if (!found.some((text) => text.includes('Nguyễn')) || !found.every((text) => /nguyen/.test(foldVietnamese(text)) && /van/.test(foldVietnamese(text)))) {
    throw new Error(`admin_search: "nguyen van" did not find the Nguyễn it should, accent-insensitively: ${found.slice(0, 3).join('; ')}`);
  }
  const { load, peakRssBytes, cpu } = await warmThenMeasure(target.pid, timing, (window) =>
    runSingleRequests({ ...window, origin: target.origin, connections: searchConcurrency, requests }));
  return {
    id: 'admin_search',
    title: `admin user search by accent-insensitive q (${usersInDatabase.toLocaleString('en')} users)`,
    unit: 'requests',
    concurrency: searchConcurrency,
    load,
    peakRssBytes,
    cpu,
    details: { usersInDatabase, queries: searchQueries },
  };
}

interface ImportTotals {
  readonly rows: number;
  readonly created: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly failed: number;
}

async function importFile(target: MekongIdTarget, csv: string, dryRun: boolean): Promise<{ seconds: number; totals: ImportTotals }> {
  const authorization = `Bearer ${await serviceToken(target)}`;
  const started = performance.now();
  const response = await target.connections.pool.request({
    method: 'POST',
    path: `/api/v1/users/import?dry_run=${String(dryRun)}&file_name=bench.csv`,
    headers: { authorization, 'content-type': 'text/csv; charset=utf-8' },
    body: csv,
    // A 100,000-row import may take longer than undici's five-minute default; its time is what is measured.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const body = await response.body.text();
  const seconds = (performance.now() - started) / 1000;
  if (response.statusCode !== 200) throw new Error(`import: HTTP ${response.statusCode}: ${body.slice(0, 300)}`);
  return { seconds, totals: (JSON.parse(body) as { totals: ImportTotals }).totals };
}

/**
 * Scenario 7: HR's file of new hires (the people the generator would have made next, with the
 * Vietnamese headers HR uses) through POST /api/v1/users/import: a dry run, the import itself, and
 * the same file again, which must change nothing; then the audit chain is verified. The import is
 * the measured step.
 */
export async function measureImport(
  target: MekongIdTarget,
  population: Population,
  rows: number,
  verifyAuditChain: () => Promise<AuditChainReport>,
): Promise<Measurement> {
  const csv = demoPeopleCsv(population.takeNewHires(rows));
  const { value: [dryRun, applied, rerun], peakRssBytes, cpu } = await observe(target.pid, async () => [
    await importFile(target, csv, true),
    await importFile(target, csv, false),
    await importFile(target, csv, false),
  ] as const);
  // What the old import bench checked too: every event the import wrote is on an intact chain.
  const verifyStarted = performance.now();
  const chain = await verifyAuditChain();
  const verifySeconds = (performance.now() - verifyStarted) / 1000;
  const problems = [
    applied.totals.created !== rows && `${applied.totals.created} of ${rows} rows created`,
    rerun.totals.unchanged !== rows && `the second import left ${rerun.totals.unchanged} of ${rows} rows unchanged`,
    !chain.ok && `the audit chain is broken at event ${chain.id} (${chain.problem})`,
  ].filter(Boolean);
  const milliseconds = applied.seconds * 1000;
  const load: LoadResult = {
    completed: applied.totals.created,
    failed: applied.totals.failed,
    durationSeconds: applied.seconds,
    requestsPerSecond: applied.totals.created / applied.seconds,
    // One request: its latency is the whole import.
    latencyMs: { p50: milliseconds, p95: milliseconds, p99: milliseconds },
    firstFailure: problems.length > 0 ? problems.join('; ') : null,
  };
  return {
    id: 'import',
    title: `bulk import of a ${rows.toLocaleString('en')}-row CSV (POST /api/v1/users/import)`,
    unit: 'rows',
    concurrency: 1,
    load,
    peakRssBytes,
    cpu,
    details: {
      rows, dryRunSeconds: dryRun.seconds, importSeconds: applied.seconds, rerunSeconds: rerun.seconds, totals: applied.totals, rerunTotals: rerun.totals,
      auditChain: { intact: chain.ok, eventsChecked: chain.checked, verifySeconds },
    },
  };
}
