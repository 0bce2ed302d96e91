import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { sql } from 'kysely';

import { loadConfig, type Config } from '../src/config/index.ts';
import { openDatabase } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrator.ts';
import { verifyAuditChain, type AuditChainReport } from '../src/domain/audit.ts';
import { createPasswordHasher } from '../src/domain/passwords.ts';
import { createBenchDatabase } from './bench-database.ts';
import { openConnections } from './load/relying-party.ts';
import { parseBenchOptions, type BenchOptions, type ScenarioId } from './options.ts';
import { freePort } from './processes/child.ts';
import { buildAsNpmStartDoes, createClientWithCli, productionEnvironment, startMekongId, type MekongIdServer } from './processes/mekong-id.ts';
import { residentBytes, startCpuWindow } from './processes/usage.ts';
import { describeProfileSummary, readCpuProfile, summariseCpuProfile } from './profile-summary.ts';
import { againstIds, judgeRss, markdownTable, noisyOtherCpu, scaleTable, toRows, toScaleRows } from './report.ts';
import { measureScale, type ScalePoint } from './scale.ts';
import { seedPopulation, type Population } from './seed.ts';
import { measureAdminSearch, measureImport } from './scenarios/admin.ts';
import { measureAgainstCheckout } from './scenarios/against-checkout.ts';
import { measureArgon2Ceiling } from './scenarios/argon2-ceiling.ts';
import { measureAgainstBareProvider } from './scenarios/bare-baselines.ts';
import type { Measurement } from './scenarios/measurement.ts';
import { measureLogin, stockTokens } from './scenarios/sign-in.ts';
import { createTokenStock, type MekongIdTarget } from './scenarios/target.ts';
import { measureIntrospection, measureUserinfo, refreshConcurrency } from './scenarios/tokens.ts';

const resultsDirectory = fileURLToPath(new URL('./results/', import.meta.url));
const logFile = path.join(resultsDirectory, 'server.log');
const bareLogFile = path.join(resultsDirectory, 'bare-provider.log');
const againstLogFile = path.join(resultsDirectory, 'against.log');
const profileDirectory = path.join(resultsDirectory, 'profiles');
/** Where the web client says it lives; the driver stops at it and never calls it. */
const redirectUri = 'http://localhost:8080/callback';
const baselineIds = new Set(['argon2_ceiling', 'bare_client_credentials', 'bare_refresh', againstIds.other]);

const progress = (message: string) => console.error(`· ${message}`);
const relative = (file: string) => path.relative(process.cwd(), file);

/**
 * Everything a run started, undone in reverse order at the end, on failure, or on Ctrl-C: no
 * server is left running and no bench database is left behind.
 */
const undo: (() => Promise<void>)[] = [];
async function undoAll(): Promise<void> {
  while (undo.length > 0) {
    await undo.pop()!().catch((error: unknown) => console.error(`cleaning up failed: ${String(error)}`));
  }
}
process.once('SIGINT', () => {
  console.error('\ninterrupted: stopping the servers and dropping the bench database');
  void undoAll().then(() => process.exit(130));
});

export async function runBench(args: readonly string[]): Promise<void> {
  const options = parseBenchOptions(args, process.env, path.join(resultsDirectory, 'latest.json'));
  fs.mkdirSync(resultsDirectory, { recursive: true });
  const startedAt = new Date();
  try {
    const otherCpuBeforeRun = await otherCpuNow();
    if (otherCpuBeforeRun >= noisyOtherCpu) {
      progress(`warning: other programs are using ${otherCpuBeforeRun.toFixed(0)}% of a core right now; the numbers will be lower than this machine can do`);
    }
    const bench = await setUp(options);
    const measurements = await measureScenarios(options, bench);
    const usersAfterScenarios = await bench.countUsers();
    const scale = options.scale.length === 0 ? [] : await measureScale({ ...bench, progress }, options.scale, options);
    // Stopped before the report so that V8 writes the server's profile, which it does at exit.
    await bench.server.process.stop();
    publish({ options, startedAt, otherCpuBeforeRun, bench, usersAfterScenarios, measurements, scale });
  } finally {
    await undoAll();
  }
}

interface Bench {
  readonly config: Config;
  readonly server: MekongIdServer;
  readonly target: MekongIdTarget;
  readonly population: Population;
  readonly seedSeconds: number;
  /** The server's resident memory once ready, before any load: what the peaks grow from. */
  readonly rssAtStartMb: number;
  readonly countUsers: () => Promise<number>;
  readonly verifyAuditChain: () => Promise<AuditChainReport>;
}

/** A fresh database, migrated and seeded; Mekong ID serving it in production mode; its clients registered. */
async function setUp(options: BenchOptions): Promise<Bench> {
  const database = await createBenchDatabase(options.databaseUrl);
  undo.push(() => database.drop());
  const env = productionEnvironment(database.url, await freePort());
  // The server's own parsing of the same environment: the known users' hashes use its argon2 parameters.
  const config = loadConfig(env);

  const handle = await openDatabase({ kind: 'postgres', url: database.url }, { poolSize: 4 });
  undo.push(() => handle.close());
  await migrateToLatest(handle.db);
  const hasher = createPasswordHasher(config.argon2);
  const population = await seedPopulation({ db: handle.db, hashPassword: (password) => hasher.hash(password) });
  const seedSeconds = await population.growTo(options.users);
  progress(`seeded ${options.users.toLocaleString('en')} people in ${seedSeconds.toFixed(1)} s (${population.knownUsers.length} with real argon2id passwords)`);

  if (options.cpuProfile) fs.rmSync(profileDirectory, { recursive: true, force: true });
  for (const log of [logFile, bareLogFile, againstLogFile]) fs.rmSync(log, { force: true });
  const buildSeconds = await buildAsNpmStartDoes();
  if (buildSeconds > 0) progress(`built dist/ as npm start does (npm run build) in ${buildSeconds.toFixed(1)} s`);
  const server = await startMekongId({ env, logFile, cpuProfileDir: options.cpuProfile ? profileDirectory : undefined });
  undo.push(() => server.process.stop());
  const rssAtStartMb = residentBytes(server.process.pid) / 2 ** 20;
  progress(`Mekong ID (NODE_ENV=production) is ready at ${server.issuer}, pid ${server.process.pid}, ${rssAtStartMb.toFixed(0)} MB resident; its log: ${relative(logFile)}`);

  const [webClient, serviceClient] = await Promise.all([
    createClientWithCli(env, ['--name', 'Cổng dịch vụ công (đo tải)', '--redirect-uri', redirectUri, '--first-party']),
    createClientWithCli(env, ['--name', 'Tự động hóa quản trị (đo tải)', '--service', '--role', 'super_admin']),
  ]);
  const connections = openConnections(server.issuer, 64);
  undo.push(() => connections.pool.close());
  return {
    config,
    server,
    population,
    seedSeconds,
    rssAtStartMb,
    countUsers: async () => Number((await sql<{ count: string }>`select count(*) from users`.execute(handle.db)).rows[0]!.count),
    target: {
      origin: server.issuer,
      pid: server.process.pid,
      connections,
      webClient: { clientId: webClient.client_id, clientSecret: webClient.client_secret, redirectUri },
      serviceClient: { clientId: serviceClient.client_id, clientSecret: serviceClient.client_secret },
      apiResource: `${server.issuer}/api/v1`,
      knownUsers: population.knownUsers,
      tokens: createTokenStock(),
    },
    verifyAuditChain: () => verifyAuditChain(handle.db),
  };
}

/** Issue 6's scenarios, each after the baseline it is held against. */
async function measureScenarios(options: BenchOptions, bench: Bench): Promise<Measurement[]> {
  const wants = (id: ScenarioId) => options.scenarios.includes(id);
  const { target } = bench;
  const measurements: Measurement[] = [];
  const record = (measurement: Measurement) => {
    measurements.push(measurement);
    const { load } = measurement;
    progress(`${measurement.id}: ${load.requestsPerSecond.toFixed(1)} ${measurement.unit}/s, p50 ${load.latencyMs.p50.toFixed(1)} ms, p99 ${load.latencyMs.p99.toFixed(1)} ms` +
      (load.failed > 0 ? `, ${load.failed} failed (${load.firstFailure ?? ''})` : ''));
  };

  // The argon2 ceiling first, while Mekong ID idles, so that nothing else competes for the cores.
  if (wants('login')) record(await measureArgon2Ceiling(bench.config.argon2, options));
  if (wants('login')) record(await measureLogin(target, options));
  // Scenarios that need a person's tokens get them from sign-ins: the login scenario's, or a few more.
  if (wants('refresh') || wants('userinfo') || wants('introspection')) await stockTokens(target, refreshConcurrency * 2);
  if (wants('client_credentials') || wants('refresh')) {
    const which = { clientCredentials: wants('client_credentials'), refresh: wants('refresh') };
    for (const measurement of await measureAgainstBareProvider(target, options, which, bareLogFile)) record(measurement);
  }
  if (options.against !== null && wants('client_credentials')) {
    const context = { logFile: againstLogFile, progress, undo: (step: () => Promise<void>) => void undo.push(step) };
    for (const measurement of await measureAgainstCheckout(options.against, target, options, context)) record(measurement);
  }
  if (wants('userinfo')) record(await measureUserinfo(target.origin, target.pid, target.tokens.accessTokens, options));
  if (wants('introspection')) record(await measureIntrospection(target.origin, target.pid, target.webClient, target.tokens.accessTokens, options));
  if (wants('admin_search')) record(await measureAdminSearch(target, options, await bench.countUsers()));
  // Last: it adds people, and the other scenarios are measured at the size asked for.
  if (wants('import')) record(await measureImport(target, bench.population, options.importRows, bench.verifyAuditChain));
  return measurements;
}

interface RunRecord {
  readonly options: BenchOptions;
  readonly startedAt: Date;
  readonly otherCpuBeforeRun: number;
  readonly bench: Bench;
  readonly usersAfterScenarios: number;
  readonly measurements: readonly Measurement[];
  readonly scale: readonly ScalePoint[];
}

/** Writes the JSON and prints the tables (and the profile's hot spots after --cpu-prof). */
function publish(run: RunRecord): void {
  const { options } = run;
  const rows = toRows(run.measurements, run.usersAfterScenarios);
  const rss = judgeRss(rows, baselineIds);
  const scaleRows = toScaleRows(run.scale);
  const profile = options.cpuProfile ? newestProfile(profileDirectory) : null;
  const machine = { cpus: os.availableParallelism(), cpuModel: os.cpus()[0]?.model ?? null, memoryBytes: os.totalmem(), node: process.version, platform: `${os.type()} ${os.release()}` };
  const report = {
    startedAt: run.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    otherCpuBeforeRun: run.otherCpuBeforeRun,
    options: { ...options, databaseUrl: undefined },
    server: { env: 'production', argon2: run.bench.config.argon2, rssAtStartMb: run.bench.rssAtStartMb, log: relative(logFile) },
    data: { usersSeeded: options.users, seedSeconds: run.bench.seedSeconds, usersAfterScenarios: run.usersAfterScenarios },
    scenarios: rows,
    rss,
    scale: scaleRows,
    cpuProfile: profile && { file: relative(profile), summary: summariseCpuProfile(readCpuProfile(profile)) },
  };
  fs.mkdirSync(path.dirname(options.resultsFile), { recursive: true });
  fs.writeFileSync(options.resultsFile, `${JSON.stringify(report, null, 2)}\n`);

  console.log(`\n## Mekong ID bench, ${report.startedAt}\n`);
  console.log(`${machine.cpus} cores (${machine.cpuModel ?? 'unknown CPU'}), Node ${process.version}, PostgreSQL at ${new URL(options.databaseUrl).host}; ` +
    `${options.users.toLocaleString('en')} people seeded, ${options.durationSeconds} s per scenario after ${options.warmupSeconds} s of warm-up; ` +
    `the server started at ${report.server.rssAtStartMb.toFixed(0)} MB resident. The load generator runs on the same cores as the server.\n`);
  console.log(markdownTable(rows, rss));
  if (scaleRows.length > 0) console.log(`\n### Scaling\n\n${scaleTable(scaleRows)}`);
  if (report.cpuProfile) console.log(`\n### Server CPU profile (${report.cpuProfile.file})\n\n${describeProfileSummary(report.cpuProfile.summary)}`);
  console.log(`\nJSON: ${relative(options.resultsFile)}`);
  // Targets missed are for a person to read; a scenario that failed requests or finished none means
  // the bench (or the server) is broken, which CI's --quick run must not let pass.
  const broken = rows.filter((row) => row.failed > 0 || row.completed === 0);
  if (broken.length > 0) {
    console.error(`bench: ${broken.map((row) => row.id).join(', ')} failed requests or finished none (see "Failures" above)`);
    process.exitCode = 1;
  }
}

/** What other programs use of the cores over one second, before the bench starts anything. */
async function otherCpuNow(): Promise<number> {
  const window = startCpuWindow(null);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return window.end().other;
}

function newestProfile(directory: string): string | null {
  const profiles = fs.existsSync(directory) ? fs.readdirSync(directory).filter((name) => name.endsWith('.cpuprofile')) : [];
  const newest = profiles.map((name) => path.join(directory, name)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  return newest ?? null;
}
