import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { loadConfig } from '../../src/config/index.ts';
import { openDatabase, type DatabaseTarget } from '../../src/db/database.ts';
import { findActiveClient } from '../../src/db/queries/clients.ts';
import { findOrgUnitByCode, insertOrgUnit } from '../../src/db/queries/org-units.ts';
import { countActiveUsersWithRole } from '../../src/db/queries/role-assignments.ts';
import { insertPersonnelDecision } from '../../src/db/queries/personnel-decisions.ts';
import { findUserByLogin, insertUser } from '../../src/db/queries/users.ts';
import type { Database } from '../../src/db/schema.ts';
import { createPasswordHasher } from '../../src/domain/passwords.ts';
import { withAdminClient } from '../support/database.ts';
import { withDatabase } from '../support/global-setup.ts';
import { runCli as runCliWith, spawnServe, type CliResult, type ServeProcess } from '../support/serve-process.ts';

const foundationMigration = '20261126-001-foundation';
/** Every migration the project ships, in the order they apply. */
const allMigrations = fs.readdirSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../migrations'))
  .filter((name) => name.endsWith('.ts')).map((name) => name.replace(/\.ts$/, '')).sort();
const postgres = inject('postgres');

/** Where the CLI keeps its data: a fresh DATA_DIR and, on PostgreSQL runs, a fresh empty database. */
interface CliTarget {
  readonly env: Record<string, string>;
  readonly database: DatabaseTarget;
  dispose(): Promise<void>;
}

/**
 * An empty, unmigrated database, as on a new machine: unlike the other tests' databases this one is
 * not cloned from the migrated template, because `migrate` itself is under test.
 */
async function createEmptyTarget(): Promise<CliTarget> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mekong-id-cli-'));
  const env = { DATA_DIR: dataDir, NODE_ENV: 'development', PATH: process.env['PATH'] ?? '' };
  const removeDataDir = () => fs.rmSync(dataDir, { recursive: true, force: true });
  if (!postgres) {
    return {
      env,
      database: { kind: 'pglite', dataDir },
      dispose() {
        removeDataDir();
        return Promise.resolve();
      },
    };
  }
  // Named like test/support/database.ts names its copies, so the run's teardown finds any left behind.
  const name = `mekong_test_${postgres.template.split('_').pop() ?? ''}_cli_${randomBytes(6).toString('hex')}`;
  await withAdminClient(postgres.url, (client) => client.query(`create database ${name}`));
  const url = withDatabase(postgres.url, name);
  return {
    env: { ...env, DATABASE_URL: url },
    database: { kind: 'postgres', url },
    async dispose() {
      await withAdminClient(postgres.url, (client) => client.query(`drop database if exists ${name} with (force)`));
      removeDataDir();
    },
  };
}


/** Opens the target's database after the CLI has exited (the embedded one admits one process at a time). */
async function inDatabase<T>(target: CliTarget, run: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const database = await openDatabase(target.database, { poolSize: 1 });
  try {
    return await run(database.db);
  } finally {
    await database.close();
  }
}

/** Runs `mekong-id …` as a person at a shell would, with `stdin` piped in, and waits for it to exit. */
function runCli(target: CliTarget, args: string[], stdin = ''): Promise<CliResult> {
  return runCliWith(args, target.env, stdin);
}

/** A message meant for a person: no stack trace. */
const noStackTrace = /\n\s+at /;

const adminPassword = 'Sông Tiền chảy qua Mỹ Tho năm 2026';

let target: CliTarget;

beforeAll(async () => {
  target = await createEmptyTarget();
});

afterAll(async () => {
  await target?.dispose();
});

describe('mekong-id migrate', { timeout: 60_000 }, () => {
  it('lists the foundation migration as pending on an empty database, and as applied after migrate', async () => {
    const before = await runCli(target, ['migrate', '--status']);
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(new RegExp(`^pending\\s+${foundationMigration}$`, 'm'));

    const migrated = await runCli(target, ['migrate']);
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toContain(`applied: ${foundationMigration}`);

    const after = await runCli(target, ['migrate', '--status']);
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(new RegExp(`^\\d{4}-\\d{2}-\\d{2}T[\\d:.]+Z\\s+${foundationMigration}$`, 'm'));
    expect(after.stdout).not.toContain('pending');

    const again = await runCli(target, ['migrate']);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe('the database is up to date');
  });
});

describe('mekong-id admin create', { timeout: 60_000 }, () => {
  it('creates a super administrator whose password is read from standard input without the trailing newline', async () => {
    const result = await runCli(target, ['admin', 'create', '--username', 'admin', '--password-stdin', '--full-name', 'Quản trị viên tỉnh'], `${adminPassword}\n`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^created super administrator admin \([0-9a-f-]{36}\)$/m);
    expect(result.stdout).not.toContain(adminPassword);

    await inDatabase(target, async (db) => {
      const admin = await findUserByLogin(db, 'admin');
      expect(admin).toMatchObject({ username: 'admin', full_name: 'Quản trị viên tỉnh', status: 'active' });
      expect(admin!.password_hash).toMatch(/^\$argon2id\$/);
      const passwords = createPasswordHasher(loadConfig({ DATA_DIR: target.env['DATA_DIR'] }).argon2);
      expect((await passwords.verify(admin!.password_hash, adminPassword)).ok).toBe(true);
      expect((await passwords.verify(admin!.password_hash, `${adminPassword}\n`)).ok).toBe(false);
      expect(await countActiveUsersWithRole(db, 'super_admin')).toBe(1);
    });
  });

  it('refuses a username that is already taken, with a non-zero exit and a message saying so', async () => {
    const first = await runCli(target, ['admin', 'create', '--username', 'quantri', '--password-stdin'], `${adminPassword}\n`);
    expect(first.code).toBe(0);

    const second = await runCli(target, ['admin', 'create', '--username', 'quantri', '--password-stdin'], 'một mật khẩu khác hẳn\n');
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain('the username "quantri" is already taken');
    expect(second.stderr).not.toMatch(noStackTrace);
    expect(second.stdout).not.toContain('created');
  });

  it('refuses a password shorter than 10 characters, naming the rule, and creates no one', async () => {
    const result = await runCli(target, ['admin', 'create', '--username', 'ngan', '--password-stdin'], 'ngắn quá\n');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('a password needs at least 10 characters');
    expect(result.stderr).not.toMatch(noStackTrace);
    expect(await inDatabase(target, (db) => findUserByLogin(db, 'ngan'))).toBeUndefined();
  });
});

describe('mekong-id clients create', { timeout: 60_000 }, () => {
  it('prints the client id and secret once as JSON, and stores only the SHA-256 hash of the secret', async () => {
    const result = await runCli(target, ['clients', 'create', '--name', 'Cổng dịch vụ công', '--redirect-uri', 'http://localhost:9/cb', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as { client_id: string; client_secret: string; client_name: string; redirect_uris: string[] };
    expect(printed).toMatchObject({ client_name: 'Cổng dịch vụ công', redirect_uris: ['http://localhost:9/cb'] });
    expect(printed.client_id).toMatch(/^[\w-]{16,}$/);
    expect(printed.client_secret).toMatch(/^[\w-]{32,}$/);

    const stored = await inDatabase(target, (db) => findActiveClient(db, printed.client_id));
    expect(stored).toBeDefined();
    expect(stored!.client_secret_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored!.client_secret_hash).toBe(createHash('sha256').update(printed.client_secret, 'utf8').digest('hex'));
    expect(stored!.client_secret_hash).not.toBe(printed.client_secret);
    expect(JSON.stringify(stored)).not.toContain(printed.client_secret);
  });

  it('refuses an http redirect URI that is not loopback, explains that https is needed, and stores nothing', async () => {
    const result = await runCli(target, ['clients', 'create', '--name', 'Ứng dụng không an toàn', '--redirect-uri', 'http://app.tiengiang.gov.vn/cb', '--json']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('"http://app.tiengiang.gov.vn/cb" must use https');
    expect(result.stderr).not.toMatch(noStackTrace);
    expect(result.stdout).not.toContain('client_secret');

    const names = await inDatabase(target, async (db) =>
      (await db.selectFrom('clients').select('metadata').execute()).map((row) => row.metadata['client_name']),
    );
    expect(names).not.toContain('Ứng dụng không an toàn');
  });
});

describe('mekong-id clients initial-access-token', { timeout: 60_000 }, () => {
  it('prints a token for /reg once, valid for a week, stored as the provider stores its tokens, and audited', async () => {
    const result = await runCli(target, ['clients', 'initial-access-token', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as { initial_access_token: string; expires_at: string; registration_endpoint: string };
    expect(printed.initial_access_token).toMatch(/^[\w-]{40,}$/);
    expect(printed.registration_endpoint).toMatch(/\/reg$/);
    expect(new Date(printed.expires_at).getTime()).toBeGreaterThan(Date.now() + 6 * 24 * 3600 * 1000);
    const [stored, audited] = await inDatabase(target, (db) => Promise.all([
      db.selectFrom('oidc_payloads').select('payload').where('model', '=', 'InitialAccessToken').execute(),
      db.selectFrom('audit_events').select(['action', 'actor_name']).where('action', '=', 'client.initial_access_token').execute(),
    ]));
    expect(stored).toHaveLength(1);
    expect(audited[0]?.actor_name).toContain('mekong-id clients initial-access-token');
  });
});

interface KeyRow {
  kid: string;
  alg: string;
  state: string;
  activatesAt: Date;
}

async function listKeys(): Promise<KeyRow[]> {
  const result = await runCli(target, ['keys', 'list']);
  expect(result.code).toBe(0);
  const [header, ...rows] = result.stdout.trim().split('\n');
  expect(header).toMatch(/^kid\s+alg\s+state\s+activates at\s+published until$/);
  return rows.map((row) => {
    const [kid = '', alg = '', state = '', activatesAt = ''] = row.split(/\s+/);
    return { kid, alg, state, activatesAt: new Date(activatesAt) };
  });
}

describe('mekong-id keys', { timeout: 60_000 }, () => {
  it('lists one RS256 and one ES256 key that sign now', async () => {
    const signing = (await listKeys()).filter((key) => key.state === 'signing');
    expect(signing.map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(signing.every((key) => key.activatesAt.getTime() <= Date.now())).toBe(true);
  });

  it('rotate adds a pending key per algorithm and leaves the signing keys signing', async () => {
    const signingBefore = (await listKeys()).filter((key) => key.state === 'signing').map((key) => key.kid).sort();

    const rotated = await runCli(target, ['keys', 'rotate']);
    expect(rotated.code).toBe(0);
    const added = [...rotated.stdout.matchAll(/^added (RS256|ES256) key (\S+): published now, signs from (\S+)$/gm)].map((match) => ({
      alg: match[1]!,
      kid: match[2]!,
    }));
    expect(added.map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);

    const after = await listKeys();
    for (const key of added) {
      const listed = after.find((row) => row.kid === key.kid);
      expect(listed).toMatchObject({ alg: key.alg, state: 'pending' });
      expect(listed!.activatesAt.getTime()).toBeGreaterThan(Date.now());
    }
    expect(after.filter((key) => key.state === 'signing').map((key) => key.kid).sort()).toEqual(signingBefore);
  });
});

describe('mekong-id with a command it does not know', () => {
  it('prints the usage and exits 64', async () => {
    const result = await runCli(target, ['frobnicate']);
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('unknown command "frobnicate"');
    expect(result.stderr).toContain('usage: mekong-id <command>');
    expect(result.stderr).not.toMatch(noStackTrace);
  });
});

async function startServe(on: CliTarget): Promise<ServeProcess> {
  const serve = await spawnServe(on.env);
  try {
    await serve.ready();
  } catch (error) {
    serve.child.kill('SIGKILL');
    throw error;
  }
  return serve;
}

// The steps share one server, started on an empty database: they run in order, and the last stops it.
describe('mekong-id serve', { timeout: 60_000 }, () => {
  let serveTarget: CliTarget;
  let serve: ServeProcess;

  beforeAll(async () => {
    serveTarget = await createEmptyTarget();
    serve = await startServe(serveTarget);
  });

  afterAll(async () => {
    if (serve && serve.child.exitCode === null && serve.child.signalCode === null) {
      serve.child.kill('SIGKILL');
      await serve.exited;
    }
    await serveTarget?.dispose();
  });

  it('logs JSON lines, and on its first start tells the operator how to create the first administrator', () => {
    const lines = serve.logLines();
    expect(lines.find((line) => line.msg === 'applied migrations')).toMatchObject({ migrations: allMigrations });
    const hint = lines.find((line) => line.msg.startsWith('no administrator yet'));
    expect(hint).toBeDefined();
    expect(hint!.level).toBe(40);
    expect(hint!.msg).toContain('npx mekong-id admin create --username admin --password-stdin');
    // With the embedded database the server holds the lock, so the hint must say to stop it first.
    if (!postgres) expect(hint!.msg).toContain('stop the server');
  });

  // PostgreSQL is shared by many processes by design (that is how Mekong ID scales out), so there is
  // no lock to refuse a second process: only the embedded database has one.
  it.skipIf(postgres !== null)('refuses a second command on the same DATA_DIR while it runs, because the embedded database is in use', async () => {
    const second = await runCli(serveTarget, ['keys', 'list']);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(`the embedded database in ${serveTarget.env['DATA_DIR']!} is in use by another Mekong ID process`);
    expect(second.stderr).not.toMatch(noStackTrace);
    expect(second.stdout).toBe('');
    // The refused command left the running server undisturbed.
    expect((await fetch(`${serve.url}/readyz`)).status).toBe(200);
  });

  it('shuts down gracefully on SIGTERM with exit code 0, and frees the database for the next command', async () => {
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toEqual({ code: 0, signal: null });
    expect(serve.logLines().find((line) => line.msg === 'shutting down')).toMatchObject({ signal: 'SIGTERM' });
    expect(serve.stderr()).toBe('');

    const afterwards = await runCli(serveTarget, ['migrate', '--status']);
    expect(afterwards.code).toBe(0);
    expect(afterwards.stdout).toMatch(new RegExp(`^\\d{4}-.+Z\\s+${foundationMigration}$`, 'm'));
  });
});

describe('mekong-id seed --demo', { timeout: 120_000 }, () => {
  let seedTarget: CliTarget;

  beforeAll(async () => {
    seedTarget = await createEmptyTarget();
  });

  afterAll(async () => {
    await seedTarget?.dispose();
  });

  it('loads the demo province into a fresh database, prints each password and secret once, and a second run changes nothing', async () => {
    const result = await runCli(seedTarget, ['seed', '--demo', '--people', '50']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^org units: \d{3} created, 0 kept$/m);
    expect(result.stdout).toMatch(/^people: +50 created, 0 kept/m);
    const passwords = new Map([...result.stdout.matchAll(/^ +(demo\.[a-z]+) .* password: (\S+)$/gm)].map((match) => [match[1]!, match[2]!]));
    expect([...passwords.keys()].sort()).toEqual(['demo.admin', 'demo.auditor', 'demo.caibe', 'demo.helpdesk']);
    const apps = [...result.stdout.matchAll(/client_id: (\S+)\n +client_secret: (\S+)$/gm)].map((match) => ({ clientId: match[1]!, secret: match[2]! }));
    expect(apps).toHaveLength(3);

    const hasher = createPasswordHasher(loadConfig({ DATA_DIR: seedTarget.env['DATA_DIR'] }).argon2);
    await inDatabase(seedTarget, async (db) => {
      for (const [username, password] of passwords) {
        const account = await findUserByLogin(db, username);
        expect(account?.status, username).toBe('active');
        expect((await hasher.verify(account!.password_hash, password)).ok, username).toBe(true);
      }
      for (const { clientId, secret } of apps) {
        expect((await findActiveClient(db, clientId))?.client_secret_hash).toBe(createHash('sha256').update(secret, 'utf8').digest('hex'));
      }
      const people = await db.selectFrom('users').select('status').where('employee_code', 'like', 'TG-%').execute();
      expect(people).toHaveLength(50);
      expect(people.every((person) => person.status === 'pending_activation')).toBe(true);
    });

    const again = await runCli(seedTarget, ['seed', '--demo', '--people', '50']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^org units: 0 created, \d{3} kept$/m);
    expect(again.stdout).toContain('nothing changed: the demo province was already loaded');
    expect(again.stdout).not.toContain('password:');
    expect(again.stdout).not.toContain('client_secret:');
    await inDatabase(seedTarget, async (db) => {
      const admin = await findUserByLogin(db, 'demo.admin');
      expect((await hasher.verify(admin!.password_hash, passwords.get('demo.admin')!)).ok).toBe(true);
    });
  });

  it('refuses NODE_ENV=production without --force, saying why, before it even migrates the database', async () => {
    const productionTarget = await createEmptyTarget();
    try {
      const production = {
        ...productionTarget,
        env: {
          ...productionTarget.env, NODE_ENV: 'production', ISSUER: 'http://localhost:3000',
          MASTER_KEY: randomBytes(32).toString('hex'), COOKIE_KEYS: randomBytes(32).toString('hex'),
        },
      };
      const result = await runCli(production, ['seed', '--demo', '--people', '50']);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('refusing to load the demo province because NODE_ENV=production');
      expect(result.stderr).toContain('--force');
      expect(result.stderr).not.toMatch(noStackTrace);
      expect(result.stdout).toBe('');

      const status = await runCli(productionTarget, ['migrate', '--status']);
      expect(status.stdout).toMatch(new RegExp(`^pending\\s+${foundationMigration}$`, 'm'));
    } finally {
      await productionTarget.dispose();
    }
  });
});

describe('mekong-id clients create --service --role', { timeout: 60_000 }, () => {
  it('registers a service client holding org_admin over a unit found by its code, and a global auditor role', async () => {
    await inDatabase(target, async (db) => {
      if (!(await findOrgUnitByCode(db, 'TG'))) await insertOrgUnit(db, { code: 'TG', name: 'Ủy ban nhân dân tỉnh Tiền Giang', kind: 'province', parent: null });
    });
    const result = await runCli(target, ['clients', 'create', '--name', 'Đồng bộ nhân sự', '--service', '--role', 'org_admin@tg', '--role', 'auditor', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { client_id: clientId } = JSON.parse(result.stdout) as { client_id: string };
    const roles = await inDatabase(target, (db) =>
      db.selectFrom('role_assignments').leftJoin('org_units', 'org_units.id', 'role_assignments.org_unit_id')
        .select(['role', 'org_units.code']).where('client_id', '=', clientId).orderBy('role').execute());
    expect(roles).toEqual([{ role: 'auditor', code: null }, { role: 'org_admin', code: 'TG' }]);
  });

  it('refuses an unknown role, a unit code that does not exist, and --role without --service, registering nothing', async () => {
    const before = await inDatabase(target, async (db) => (await db.selectFrom('clients').select('client_id').execute()).length);
    const unknownRole = await runCli(target, ['clients', 'create', '--name', 'X', '--service', '--role', 'god']);
    expect(unknownRole.code).toBe(64);
    expect(unknownRole.stderr).toContain('the role must be one of super_admin, org_admin, helpdesk, auditor, developer');
    const unknownUnit = await runCli(target, ['clients', 'create', '--name', 'X', '--service', '--role', 'org_admin@TG.KHONGCO']);
    expect(unknownUnit.code).toBe(65);
    expect(unknownUnit.stderr).toContain('there is no org unit with the code TG.KHONGCO');
    const notService = await runCli(target, ['clients', 'create', '--name', 'X', '--redirect-uri', 'http://localhost:9/cb', '--role', 'auditor']);
    expect(notService.code).toBe(64);
    const after = await inDatabase(target, async (db) => (await db.selectFrom('clients').select('client_id').execute()).length);
    expect(after).toBe(before);
  });
});

describe('mekong-id users import', { timeout: 60_000 }, () => {
  const file = () => path.join(target.env['DATA_DIR']!, 'nhan-su.csv');

  beforeAll(async () => {
    await inDatabase(target, async (db) => {
      const province = (await findOrgUnitByCode(db, 'TG')) ?? await insertOrgUnit(db, { code: 'TG', name: 'Ủy ban nhân dân tỉnh Tiền Giang', kind: 'province', parent: null });
      await insertOrgUnit(db, { code: 'TG.SYT', name: 'Sở Y tế', kind: 'department', parent: province });
    });
    // What HR exports from Excel: a BOM, semicolons, Vietnamese headers, a decomposed name, a bad phone.
    fs.writeFileSync(file(), `\uFEFFMã cán bộ;Họ và tên;Số điện thoại;Mã đơn vị\r\nYT-001;${'Nguyễn Thị Ánh Tuyết'.normalize('NFD')};0912 345 678;TG.SYT\r\nYT-002;Đặng Văn Lâm;12345;TG.SYT\r\n`);
  });

  it('reports a dry run row by row and writes nothing', async () => {
    const result = await runCli(target, ['users', 'import', file(), '--dry-run']);
    expect(result.code).toBe(65);
    expect(result.stdout).toContain('dry run, nothing written: would create 1, update 0, unchanged 0, refused 1 (of 2 rows)');
    expect(result.stdout).toMatch(/^error row 3 \[Số điện thoại\]: .*12345/m);
    expect(await inDatabase(target, (db) => db.selectFrom('users').select('id').where('employee_code', 'like', 'YT-%').execute())).toEqual([]);
  });

  it('applies the valid rows, stores the name composed and the phone in E.164, and a rerun changes nothing', async () => {
    const applied = await runCli(target, ['users', 'import', file()]);
    expect(applied.code).toBe(65);
    expect(applied.stdout).toContain('created 1, updated 0, unchanged 0, refused 1 (of 2 rows)');
    const person = await inDatabase(target, (db) => db.selectFrom('users').selectAll().where('employee_code', '=', 'YT-001').executeTakeFirstOrThrow());
    expect(person).toMatchObject({ full_name: 'Nguyễn Thị Ánh Tuyết'.normalize('NFC'), phone: '+84912345678', status: 'pending_activation', username: 'tuyetnta' });

    const rerun = await runCli(target, ['users', 'import', file(), '--json']);
    const report = JSON.parse(rerun.stdout) as { totals: Record<string, number> };
    expect(report.totals).toEqual({ rows: 2, created: 0, updated: 0, unchanged: 1, failed: 1 });
  });

  it('says which file it cannot read', async () => {
    const result = await runCli(target, ['users', 'import', path.join(target.env['DATA_DIR']!, 'khong-co.csv')]);
    expect(result.code).toBe(65);
    expect(result.stderr).toContain('cannot read');
    expect(result.stderr).toContain('khong-co.csv');
  });
});

describe('mekong-id audit verify', { timeout: 60_000 }, () => {
  it('reports an intact log, and names the event edited behind the triggers with exit code 2', async () => {
    const intact = await runCli(target, ['audit', 'verify']);
    expect(intact.stderr).toBe('');
    expect(intact.code).toBe(0);
    expect(intact.stdout).toMatch(/^the audit log is intact: \d+ events checked$/m);

    const edited = await inDatabase(target, async (db) => {
      // As text: PGlite reads a bigint as a number, pg as a string.
      const row = await db.selectFrom('audit_events').select(sql<string>`id::text`.as('id')).where('action', '=', 'user.create').orderBy(sql`id`).executeTakeFirstOrThrow();
      await db.transaction().execute(async (trx) => {
        await sql`alter table audit_events disable trigger user`.execute(trx);
        await sql`update audit_events set action = 'user.read' where id = ${row.id}::bigint`.execute(trx);
        await sql`alter table audit_events enable trigger user`.execute(trx);
      });
      return row.id;
    });
    const tampered = await runCli(target, ['audit', 'verify']);
    expect(tampered.code).toBe(2);
    expect(tampered.stderr).toContain(`the audit log has been tampered with at event ${edited}: its content no longer matches its hash`);
  });
});

describe('mekong-id clients create with keys, PAR and the high-security profile', { timeout: 60_000 }, () => {
  const jwksFile = (name: string, jwks: unknown) => {
    const file = path.join(target.env['DATA_DIR']!, name);
    fs.writeFileSync(file, JSON.stringify(jwks));
    return file;
  };
  const publicJwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'benhvien-2026' }] };

  it('registers a high-security client that signs with its keys: no secret printed, the profile stored', async () => {
    const result = await runCli(target, [
      'clients', 'create', '--name', 'Hệ thống quản lý bệnh viện', '--redirect-uri', 'https://benhvien.tiengiang.gov.vn/callback',
      '--auth', 'private_key_jwt', '--jwks-file', jwksFile('benhvien.jwks.json', publicJwks), '--high-security', '--json',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(printed).toMatchObject({ client_secret: null, token_endpoint_auth_method: 'private_key_jwt', high_security: true, jwks: publicJwks });
    const stored = await inDatabase(target, (db) => findActiveClient(db, printed['client_id'] as string));
    expect(stored).toMatchObject({ client_secret_hash: null, metadata: { high_security: true } });
  });

  it('refuses the profile for a client with a secret, and a JWKS holding a private key, registering nothing', async () => {
    const before = await inDatabase(target, async (db) => (await db.selectFrom('clients').select('client_id').execute()).length);
    const withSecret = await runCli(target, ['clients', 'create', '--name', 'X', '--redirect-uri', 'https://x.tiengiang.gov.vn/cb', '--high-security']);
    expect(withSecret.code).toBe(65);
    expect(withSecret.stderr).toContain('the high-security profile is for web clients authenticating with private_key_jwt');
    const privateKey = await runCli(target, [
      'clients', 'create', '--name', 'X', '--redirect-uri', 'https://x.tiengiang.gov.vn/cb', '--auth', 'private_key_jwt',
      '--jwks-file', jwksFile('private.jwks.json', { keys: [{ ...publicJwks.keys[0], d: 'secret-part' }] }),
    ]);
    expect(privateKey.code).toBe(64);
    expect(privateKey.stderr).toContain('give the public keys only');
    const after = await inDatabase(target, async (db) => (await db.selectFrom('clients').select('client_id').execute()).length);
    expect(after).toBe(before);
  });

  it('registers a client that must use PAR', async () => {
    const result = await runCli(target, ['clients', 'create', '--name', 'Cổng một cửa', '--redirect-uri', 'https://motcua.tiengiang.gov.vn/cb', '--require-par', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ require_pushed_authorization_requests: true });
  });
});

describe('mekong-id token-exchange', { timeout: 60_000 }, () => {
  it('allows, lists and revokes a pair, and audits each change', async () => {
    const created = await runCli(target, ['clients', 'create', '--name', 'Hệ thống chỉ đạo điều hành', '--redirect-uri', 'https://chidao.tiengiang.gov.vn/cb', '--json']);
    const { client_id: clientId } = JSON.parse(created.stdout) as { client_id: string };
    const audience = 'https://benhvien.tiengiang.gov.vn/api';

    const allowed = await runCli(target, ['token-exchange', 'allow', '--client', clientId, '--audience', audience, '--scope', 'records:read  appointments:read']);
    expect(allowed.stderr).toBe('');
    expect(allowed.stdout).toContain(`${clientId} may exchange tokens for ${audience} (scope: records:read appointments:read)`);
    const listed = await runCli(target, ['token-exchange', 'list', '--client', clientId, '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([{ client_id: clientId, audience, scope: 'records:read appointments:read' }]);

    const revoked = await runCli(target, ['token-exchange', 'revoke', '--client', clientId, '--audience', audience]);
    expect(revoked.code).toBe(0);
    expect(await inDatabase(target, (db) => db.selectFrom('token_exchange_permissions').selectAll().where('client_id', '=', clientId).execute())).toEqual([]);
    const again = await runCli(target, ['token-exchange', 'revoke', '--client', clientId, '--audience', audience]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('nothing to revoke');

    const audited = await inDatabase(target, (db) => db.selectFrom('audit_events').select(['action', 'actor_name']).where('target_id', '=', clientId)
      .where('action', 'like', 'token_exchange.%').orderBy('id').execute());
    expect(audited.map((event) => event.action)).toEqual(['token_exchange.allow', 'token_exchange.revoke']);
    expect(audited[0]!.actor_name).toMatch(/^mekong-id token-exchange allow \(/);
  });

  it('refuses an unknown client and a relative audience', async () => {
    const unknown = await runCli(target, ['token-exchange', 'allow', '--client', 'khong-co', '--audience', 'https://a.example/api', '--scope', 'read']);
    expect(unknown.code).toBe(65);
    expect(unknown.stderr).toContain('there is no active client khong-co');
    const relative = await runCli(target, ['token-exchange', 'allow', '--client', 'khong-co', '--audience', '/api', '--scope', 'read']);
    expect(relative.code).toBe(65);
    expect(relative.stderr).toContain('absolute URI');
  });
});

describe('mekong-id governance run', { timeout: 60_000 }, () => {
  it('applies a decision whose date has come as of --now, audits it with the decision, and refuses a --now that is no time', async () => {
    expect((await runCli(target, ['migrate'])).code).toBe(0);
    const retiree = await inDatabase(target, async (db) => {
      const province = (await findOrgUnitByCode(db, 'TG')) ?? await insertOrgUnit(db, { code: 'TG', name: 'Ủy ban nhân dân tỉnh Tiền Giang', kind: 'province', parent: null });
      const user = await insertUser(db, { username: 'nghihuu2030', full_name: 'Trương Văn Hưu', status: 'active', primary_org_unit_id: province.id });
      await insertPersonnelDecision(db, {
        kind: 'retirement', decision_number: '301/QĐ-UBND', decision_date: '2029-10-01', effective_date: '2030-01-01', user_id: user.id,
        org_unit_before_id: province.id, org_unit_after_id: null, position: null, note: null, recorded_by: 'system:',
      });
      return user;
    });
    const early = await runCli(target, ['governance', 'run', '--now', '2029-12-31T16:59:00Z', '--json']);
    expect(early.code).toBe(0);
    expect(JSON.parse(early.stdout)).toMatchObject({ 'personnel decisions': { applied: 0, failed: 0 } });

    // Midnight on 1 January 2030 in Vietnam is 17:00 UTC the day before.
    const due = await runCli(target, ['governance', 'run', '--now', '2029-12-31T17:00:00Z', '--json']);
    expect(due.code).toBe(0);
    expect(JSON.parse(due.stdout)).toMatchObject({ 'personnel decisions': { applied: 1, failed: 0 }, 'mover grace periods': { people: 0 } });
    const after = await inDatabase(target, async (db) => ({
      status: (await db.selectFrom('users').select('status').where('id', '=', retiree.id).executeTakeFirstOrThrow()).status,
      // Three years idle, the inactivity policy suspended them on the first run; the decision is what disables them.
      events: await db.selectFrom('audit_events').select(['action', 'actor_type']).where('target_id', '=', retiree.id)
        .where('action', 'in', ['user.disable', 'personnel_decision.apply']).orderBy('id').execute(),
    }));
    expect(after.status).toBe('disabled');
    expect(after.events).toEqual([{ action: 'user.disable', actor_type: 'system' }, { action: 'personnel_decision.apply', actor_type: 'system' }]);

    const bad = await runCli(target, ['governance', 'run', '--now', 'thứ hai tuần sau']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('--now must be a date and time');
    expect(bad.stderr).not.toMatch(noStackTrace);
  });
});
