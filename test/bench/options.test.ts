import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { BenchUsageError, parseBenchOptions, scenarioIds } from '../../bench/options.ts';

const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => parseBenchOptions(args, env, 'bench/results/latest.json');

describe('the bench\'s options', () => {
  it('measures every scenario for 10 s over 10,000 people by default, and a few seconds over 2,000 with --quick', () => {
    expect(parse([])).toMatchObject({ users: 10_000, durationSeconds: 10, warmupSeconds: 2, importRows: 18_000, scenarios: scenarioIds, scale: [] });
    expect(parse(['--quick'])).toMatchObject({ users: 2_000, durationSeconds: 3, warmupSeconds: 1, importRows: 2_000 });
    expect(parse(['--quick', '--users', '5_000']).users).toBe(5_000);
  });

  it('takes the scenarios to run, the sizes to grow to (in order) and the database server', () => {
    const options = parse(['--only', 'refresh, login', '--scale', '1000000,100000', '--results', '/tmp/x.json'], { DATABASE_URL: 'postgres://bench@db/postgres' });
    expect(options).toMatchObject({ scenarios: ['refresh', 'login'], scale: [100_000, 1_000_000], resultsFile: '/tmp/x.json', databaseUrl: 'postgres://bench@db/postgres' });
    expect(parse([]).databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/postgres');
  });

  it('says what is wrong with a bad option', () => {
    expect(() => parse(['--only', 'logins'])).toThrow(new BenchUsageError('--only: no scenario "logins"; there are login, client_credentials, refresh, userinfo, introspection, admin_search, import'));
    expect(() => parse(['--users', '0'])).toThrow('--users must be a whole number above 0, not "0"');
    expect(() => parse(['--duration', 'ten'])).toThrow('--duration must be a number of seconds above 0, not "ten"');
    expect(() => parse(['--fast'])).toThrow(/Unknown option '--fast'/);
  });

  it('takes another checkout to hold client_credentials against, once it has its dependencies', () => {
    expect(parse([]).against).toBeNull();
    const checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'mekong-checkout-'));
    try {
      expect(() => parse(['--against', checkout])).toThrow(`--against: ${checkout} holds no package.json; name a checkout of Mekong ID`);
      fs.writeFileSync(path.join(checkout, 'package.json'), '{}');
      expect(() => parse(['--against', checkout])).toThrow(`--against: ${checkout} has no node_modules; run npm ci there first`);
      fs.mkdirSync(path.join(checkout, 'node_modules'));
      // Relative to where the bench runs, named absolutely in the report.
      expect(parse(['--against', path.relative(process.cwd(), checkout)]).against).toBe(checkout);
      expect(() => parse(['--against', checkout, '--only', 'refresh'])).toThrow('--against measures client_credentials, which --only leaves out');
    } finally {
      fs.rmSync(checkout, { recursive: true, force: true });
    }
  });
});
