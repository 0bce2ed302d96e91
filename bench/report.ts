import type { ScalePoint } from './scale.ts';
import type { CpuUse } from './processes/usage.ts';
import type { Measurement } from './scenarios/measurement.ts';

/**
 * What a run reports: each measurement with its baseline, the ratio between them, and issue 6's
 * target for it with whether this run met it. Pure functions of the measurements, so the maths can
 * be checked without running anything.
 */

export interface Verdict {
  /** The target as issue 6 states it. */
  readonly target: string;
  /** null when this run cannot judge it (a data size or row count other than the target's). */
  readonly met: boolean | null;
  readonly note?: string;
}

export interface ScenarioRow {
  readonly id: string;
  readonly title: string;
  readonly unit: Measurement['unit'];
  readonly concurrency: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number };
  readonly completed: number;
  readonly failed: number;
  readonly firstFailure: string | null;
  readonly peakRssMb: number | null;
  readonly cpu: CpuUse;
  readonly baseline: { readonly id: string; readonly requestsPerSecond: number } | null;
  /** requestsPerSecond over the baseline's; null without a baseline. */
  readonly ratio: number | null;
  readonly verdict: Verdict | null;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The rows of an --against run (scenarios/against-checkout.ts): the other checkout, and this one held against it. */
export const againstIds = { other: 'against_client_credentials', ours: 'client_credentials_vs_against' } as const;

/** Which baseline each scenario is held against (issue 6, "Targets"). */
export const baselineOf: Readonly<Record<string, string>> = {
  login: 'argon2_ceiling',
  client_credentials: 'bare_client_credentials',
  refresh: 'bare_refresh',
  [againstIds.ours]: againstIds.other,
};

export const rssLimitMb = 250;
const searchUsersForTarget = 1_000_000;

const atLeast = (value: number | null, limit: number) => value !== null && value >= limit;
const percent = (ratio: number) => `${Math.round(ratio * 100)}%`;

/** Issue 6's targets. Context the measurement does not carry (the data size) comes in `usersInDatabase`. */
export function judge(row: Omit<ScenarioRow, 'verdict'>, usersInDatabase: number): Verdict | null {
  switch (row.id) {
    case 'login':
      return { target: '≥ 80% of the argon2 ceiling', met: atLeast(row.ratio, 0.8) };
    case 'client_credentials':
      return { target: '≥ 60% of bare oidc-provider', met: atLeast(row.ratio, 0.6) };
    case 'refresh':
      return { target: '≥ 1,500/s and ≥ 30% of bare oidc-provider', met: row.requestsPerSecond >= 1500 && atLeast(row.ratio, 0.3) };
    case 'userinfo':
    case 'introspection':
      return { target: '≥ 5,000/s', met: row.requestsPerSecond >= 5000 };
    case 'admin_search':
      return usersInDatabase >= searchUsersForTarget
        ? { target: 'p95 < 50 ms over 1,000,000 users', met: row.latencyMs.p95 < 50 }
        : { target: 'p95 < 50 ms over 1,000,000 users', met: null, note: `judged at 1,000,000 users only (--scale 1000000); ${row.latencyMs.p95 < 50 ? 'under' : 'over'} 50 ms here` };
    case 'import': {
      const rows = Number(row.details?.['rows']);
      const seconds = Number(row.details?.['importSeconds']);
      if (rows === 18_000) return { target: '18,000 rows in < 20 s', met: seconds < 20 && row.failed === 0 };
      if (rows === 100_000) return { target: '100,000 rows in < 90 s', met: seconds < 90 && row.failed === 0 };
      return { target: '18,000 rows < 20 s; 100,000 rows < 90 s', met: null, note: `judged at 18,000 or 100,000 rows only (--import-rows)` };
    }
    case againstIds.ours:
      return { target: 'this checkout against --against (no target: what a change bought)', met: null };
    default:
      return null;
  }
}

/** Milliseconds of CPU (all cores, every process of ours) that one unit of work took during a measurement. */
function cpuMillisecondsEach(cpu: CpuUse, perSecond: number): number {
  return ((cpu.server ?? 0) + cpu.postgres + cpu.bench) * 10 / perSecond;
}

/**
 * Why a sign-in falls short of the argon2 ceiling, in CPU: what a sign-in cost outside its password
 * check (the server, PostgreSQL and the load generator together, less one verification as the
 * ceiling measured it), against what 80% of the ceiling leaves for it, a quarter of a verification.
 */
export function loginCpuNote(login: Measurement, ceiling: Measurement): string | null {
  if (login.load.requestsPerSecond <= 0 || ceiling.load.requestsPerSecond <= 0) return null;
  const verification = cpuMillisecondsEach(ceiling.cpu, ceiling.load.requestsPerSecond);
  const outside = cpuMillisecondsEach(login.cpu, login.load.requestsPerSecond) - verification;
  return `CPU per sign-in besides argon2: ${milliseconds(outside)} ms; 80% leaves ${milliseconds(verification / 4)} ms`;
}

export function toRows(measurements: readonly Measurement[], usersInDatabase: number): ScenarioRow[] {
  const byId = new Map(measurements.map((measurement) => [measurement.id, measurement]));
  return measurements.map((measurement) => {
    const baseline = byId.get(baselineOf[measurement.id] ?? '');
    const requestsPerSecond = measurement.load.requestsPerSecond;
    const row = {
      id: measurement.id,
      title: measurement.title,
      unit: measurement.unit,
      concurrency: measurement.concurrency,
      requestsPerSecond,
      latencyMs: measurement.load.latencyMs,
      completed: measurement.load.completed,
      failed: measurement.load.failed,
      firstFailure: measurement.load.firstFailure,
      peakRssMb: measurement.peakRssBytes === null ? null : measurement.peakRssBytes / 2 ** 20,
      cpu: measurement.cpu,
      baseline: baseline ? { id: baseline.id, requestsPerSecond: baseline.load.requestsPerSecond } : null,
      ratio: baseline && baseline.load.requestsPerSecond > 0 ? requestsPerSecond / baseline.load.requestsPerSecond : null,
      ...(measurement.details ? { details: measurement.details } : {}),
    };
    const verdict = judge(row, usersInDatabase);
    const note = measurement.id === 'login' && baseline ? loginCpuNote(measurement, baseline) : null;
    return { ...row, verdict: verdict && note ? { ...verdict, note } : verdict };
  });
}

/** Server memory under load, over every scenario that sampled Mekong ID (baselines are other processes). */
export function judgeRss(rows: readonly ScenarioRow[], baselineIds: ReadonlySet<string>): Verdict & { peakRssMb: number | null } {
  const peaks = rows.filter((row) => !baselineIds.has(row.id) && row.peakRssMb !== null).map((row) => row.peakRssMb!);
  const peakRssMb = peaks.length === 0 ? null : Math.max(...peaks);
  return { target: `server RSS under load < ${rssLimitMb} MB`, met: peakRssMb === null ? null : peakRssMb < rssLimitMb, peakRssMb };
}

const number = (value: number, digits = 0) =>
  Number.isFinite(value) ? value.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–';
const milliseconds = (value: number) => (Number.isFinite(value) ? number(value, value < 10 ? 2 : value < 100 ? 1 : 0) : '–');
const metMark = (verdict: Verdict | null) => (verdict === null ? '' : verdict.met === null ? 'n/a' : verdict.met ? 'yes' : '**no**');

function rateOf(row: ScenarioRow): string {
  if (row.unit === 'rows') return `${number(row.requestsPerSecond)} rows/s (${number(Number(row.details?.['importSeconds']), 1)} s)`;
  return `${number(row.requestsPerSecond, row.requestsPerSecond < 100 ? 1 : 0)}${row.unit === 'requests' ? '' : ` ${row.unit}/s`}`;
}

/** Each one's CPU in percent of one core: server · PostgreSQL · bench · other (and steal, when there was any). */
function cpuOf(cpu: CpuUse): string {
  const steal = cpu.steal >= 1 ? ` (steal ${number(cpu.steal)})` : '';
  return `${cpu.server === null ? '–' : number(cpu.server)} · ${number(cpu.postgres)} · ${number(cpu.bench)} · ${number(cpu.other)}${steal}`;
}

const oneOf: Record<Measurement['unit'], string> = { requests: 'request', 'sign-ins': 'sign-in', verifications: 'verification', rows: 'row' };

/** Microseconds of one thread kind's CPU per unit of work, from its percent of a core and the rate. */
export function microsecondsEach(percentOfCore: number, perSecond: number): number {
  return perSecond > 0 ? (percentOfCore * 10_000) / perSecond : Number.NaN;
}

/**
 * Where the server's CPU went per request (or sign-in, or row), by thread: the main thread's own
 * work, V8's garbage collection and compiler threads, libuv's pool (argon2, signing, log writes).
 * CPU profiles see the main thread only; this shows, say, a collector working harder than the requests.
 */
export function serverThreadTable(rows: readonly ScenarioRow[]): string {
  const lines = [
    '| scenario | server CPU µs per | main thread | V8 threads (GC, compiler) | libuv pool (argon2, signing, log) | other threads |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    const threads = row.cpu.serverThreads;
    if (threads === null) continue;
    const each = (percentOfCore: number) => number(microsecondsEach(percentOfCore, row.requestsPerSecond));
    lines.push(`| ${[row.id, oneOf[row.unit], each(threads.main), each(threads.v8), each(threads.pool), each(threads.other)].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Other programs busier than this (percent of one core) during a measurement make its numbers suspect. */
export const noisyOtherCpu = 20;

/** The run as a markdown table, one line per measurement, then the memory verdict and any failures. */
export function markdownTable(rows: readonly ScenarioRow[], rss: ReturnType<typeof judgeRss>): string {
  const lines = [
    '| scenario | conc. | per second | p50 ms | p95 ms | p99 ms | failed | baseline /s | ratio | peak RSS MB | CPU % server · pg · bench · other | target | met |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | :---: |',
  ];
  for (const row of rows) {
    lines.push(`| ${[
      row.id,
      String(row.concurrency),
      rateOf(row),
      milliseconds(row.latencyMs.p50),
      milliseconds(row.latencyMs.p95),
      milliseconds(row.latencyMs.p99),
      number(row.failed),
      row.baseline ? number(row.baseline.requestsPerSecond, row.baseline.requestsPerSecond < 100 ? 1 : 0) : '',
      row.ratio === null ? '' : percent(row.ratio),
      row.peakRssMb === null ? '' : number(row.peakRssMb),
      cpuOf(row.cpu),
      row.verdict ? `${row.verdict.target}${row.verdict.note ? ` (${row.verdict.note})` : ''}` : 'baseline',
      metMark(row.verdict),
    ].join(' | ')} |`);
  }
  lines.push('', 'CPU in % of one core: the server, PostgreSQL, the bench (the load generator) and other programs.');
  lines.push('', serverThreadTable(rows));
  const noisy = rows.filter((row) => row.cpu.other >= noisyOtherCpu);
  if (noisy.length > 0) {
    lines.push('', `**Noisy run**: other programs used ≥ ${noisyOtherCpu}% of a core during ${noisy.map((row) => row.id).join(', ')}; ` +
      'those numbers are lower than this machine can do. Run again on a quiet machine.');
  }
  lines.push('', `${rss.target}: peak ${rss.peakRssMb === null ? '–' : `${number(rss.peakRssMb)} MB`}, met: ${metMark(rss)}`);
  const failures = rows.filter((row) => row.firstFailure !== null);
  if (failures.length > 0) {
    lines.push('', 'Failures (the first of each scenario):');
    for (const row of failures) lines.push(`- ${row.id}: ${row.failed > 0 ? `${row.failed} failed; first: ` : ''}${row.firstFailure ?? ''}`);
  }
  return lines.join('\n');
}

export interface ScaleRow {
  readonly users: number;
  readonly seedSeconds: number;
  readonly search: { readonly requestsPerSecond: number; readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number } };
  readonly clientCredentialsPerSecond: number;
  readonly refreshPerSecond: number;
  readonly peakRssMb: number;
  readonly otherCpu: number;
  readonly searchVerdict: Verdict;
}

export function toScaleRows(points: readonly ScalePoint[]): ScaleRow[] {
  return points.map((point) => ({
    users: point.users,
    seedSeconds: point.seedSeconds,
    search: { requestsPerSecond: point.search.requestsPerSecond, latencyMs: point.search.latencyMs },
    clientCredentialsPerSecond: point.clientCredentials.requestsPerSecond,
    refreshPerSecond: point.refresh.requestsPerSecond,
    peakRssMb: point.peakRssBytes / 2 ** 20,
    otherCpu: point.otherCpu,
    searchVerdict: point.users >= searchUsersForTarget
      ? { target: 'search p95 < 50 ms over 1,000,000 users', met: point.search.latencyMs.p95 < 50 }
      : { target: 'search p95 < 50 ms over 1,000,000 users', met: null },
  }));
}

export function scaleTable(rows: readonly ScaleRow[]): string {
  return [
    '| users | grown in s | search /s | search p50 ms | search p95 ms | search p99 ms | client_credentials /s | refresh /s | peak RSS MB | other CPU % | search target met |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |',
    ...rows.map((row) => `| ${[
      number(row.users),
      number(row.seedSeconds, 1),
      number(row.search.requestsPerSecond),
      milliseconds(row.search.latencyMs.p50),
      milliseconds(row.search.latencyMs.p95),
      milliseconds(row.search.latencyMs.p99),
      number(row.clientCredentialsPerSecond),
      number(row.refreshPerSecond),
      number(row.peakRssMb),
      number(row.otherCpu),
      metMark(row.searchVerdict),
    ].join(' | ')} |`),
  ].join('\n');
}
