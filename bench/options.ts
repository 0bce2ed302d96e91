import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

/** The scenarios of issue 6, in the order a run measures them. */
export const scenarioIds = [
  'login', 'client_credentials', 'refresh', 'userinfo', 'introspection', 'admin_search', 'import',
] as const;
export type ScenarioId = (typeof scenarioIds)[number];

export interface BenchOptions {
  /** People generated before the scenarios run (a few of them with real passwords). */
  readonly users: number;
  /** Seconds each scenario is measured for, after its warm-up. */
  readonly durationSeconds: number;
  /** Seconds each scenario runs unmeasured first, so that the JIT, the pools and PostgreSQL's caches are warm. */
  readonly warmupSeconds: number;
  readonly scenarios: readonly ScenarioId[];
  /** Rows of the HR file the import scenario uploads. */
  readonly importRows: number;
  /** User counts to grow the database to afterwards, measuring search and token rates at each. */
  readonly scale: readonly number[];
  /** Write a V8 CPU profile of the server (and summarise it) into the results directory. */
  readonly cpuProfile: boolean;
  /** The PostgreSQL server; the bench creates its own database there and drops it at the end. */
  readonly databaseUrl: string;
  readonly resultsFile: string;
  /** Another checkout of Mekong ID whose client_credentials this one's is measured against, in turns; null when none. */
  readonly against: string | null;
}

export const usage = `usage: npm run bench -- [options]

  --users N              people in the database (default 10000)
  --duration S           seconds each scenario is measured (default 10)
  --warmup S             unmeasured seconds before each scenario (default 2)
  --quick                a few seconds per scenario, 2,000 people, a 2,000-row import: checks that the bench works
  --only A,B             run only these scenarios: ${scenarioIds.join(', ')}
  --import-rows N        rows in the import scenario's HR file (default 18000; issue 6 also sets a target for 100000)
  --scale N,N…           afterwards, grow the database to each size and measure search and token rates again,
                         e.g. --scale 100000,1000000
  --cpu-prof             profile the server (V8 --cpu-prof) and print its hot spots
  --results FILE         where the JSON goes (default bench/results/latest.json)
  --against DIR          also measure client_credentials against another checkout of Mekong ID (its
                         dependencies installed), in turns, each server with its own start script and
                         database: what a change bought, by the server's CPU per request

DATABASE_URL names the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres);
the bench creates a database of its own there and drops it when done.
`;

export class BenchUsageError extends Error {}

const positiveInteger = (name: string, value: string): number => {
  const parsed = Number(value.replaceAll('_', ''));
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new BenchUsageError(`--${name} must be a whole number above 0, not "${value}"`);
  return parsed;
};

const positiveSeconds = (name: string, value: string): number => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new BenchUsageError(`--${name} must be a number of seconds above 0, not "${value}"`);
  return parsed;
};

const listOf = (value: string) => value.split(',').map((part) => part.trim()).filter(Boolean);

export function parseBenchOptions(args: readonly string[], env: NodeJS.ProcessEnv, defaultResultsFile: string): BenchOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      users: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'import-rows': { type: 'string' },
      scale: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      results: { type: 'string' },
      against: { type: 'string' },
    },
    strict: true,
  });
  const quick = values.quick;
  const scenarios = values.only === undefined ? scenarioIds : listOf(values.only).map((id) => {
    if (!(scenarioIds as readonly string[]).includes(id)) throw new BenchUsageError(`--only: no scenario "${id}"; there are ${scenarioIds.join(', ')}`);
    return id as ScenarioId;
  });
  if (values.against !== undefined && !scenarios.includes('client_credentials')) {
    throw new BenchUsageError('--against measures client_credentials, which --only leaves out');
  }
  const scale = values.scale === undefined ? [] : listOf(values.scale).map((size) => positiveInteger('scale', size)).sort((a, b) => a - b);
  return {
    users: values.users === undefined ? (quick ? 2_000 : 10_000) : positiveInteger('users', values.users),
    durationSeconds: values.duration === undefined ? (quick ? 3 : 10) : positiveSeconds('duration', values.duration),
    warmupSeconds: values.warmup === undefined ? (quick ? 1 : 2) : positiveSeconds('warmup', values.warmup),
    scenarios,
    importRows: values['import-rows'] === undefined ? (quick ? 2_000 : 18_000) : positiveInteger('import-rows', values['import-rows']),
    scale,
    cpuProfile: values['cpu-prof'],
    databaseUrl: env['DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/postgres',
    resultsFile: values.results ?? defaultResultsFile,
    against: values.against === undefined ? null : checkoutAt(values.against),
  };
}

/** A checkout the bench can build and start: its package.json, and its dependencies installed. */
function checkoutAt(directory: string): string {
  const checkout = path.resolve(directory);
  if (!fs.existsSync(path.join(checkout, 'package.json'))) throw new BenchUsageError(`--against: ${checkout} holds no package.json; name a checkout of Mekong ID`);
  if (!fs.existsSync(path.join(checkout, 'node_modules'))) throw new BenchUsageError(`--against: ${checkout} has no node_modules; run npm ci there first`);
  return checkout;
}
