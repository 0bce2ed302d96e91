/**
 * `npm run bench`: measures Mekong ID against its physical limits in one run (issue 6). Starts the
 * server in production mode on a fresh PostgreSQL database, seeds it, measures each scenario for a
 * fixed time at a fixed concurrency next to its baseline (the argon2 ceiling, a bare oidc-provider),
 * prints a markdown table and writes bench/results/latest.json. Not a test: timings belong here,
 * never in a test with a timer.
 *
 *   npm run bench
 *   npm run bench -- --quick
 *   npm run bench -- --only login,refresh --cpu-prof
 *   npm run bench -- --scale 100000,1000000 --import-rows 100000
 */
import os from 'node:os';

import { BenchUsageError, usage } from './options.ts';

// The argon2 ceiling hashes on every core through libuv's thread pool (4 threads unless told):
// size it as bin/mekong-id.js does for the server, before anything uses it.
process.env['UV_THREADPOOL_SIZE'] ||= String(Math.min(1024, Math.max(4, os.availableParallelism() + 2)));
const { runBench } = await import('./bench.ts');

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(usage);
} else {
  try {
    await runBench(args);
  } catch (error) {
    if (error instanceof BenchUsageError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`bench: ${(error as Error).message}\n\n${usage}`);
      process.exitCode = 64;
    } else {
      console.error('bench: failed:', error);
      process.exitCode = 1;
    }
  }
}
