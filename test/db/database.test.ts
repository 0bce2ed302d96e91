import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { sql } from 'kysely';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DatabaseLockedError, openDatabase, type DatabaseHandle } from '../../src/db/database.ts';
import { listMigrations, migrateToLatest, migrationsAreCurrent } from '../../src/db/migrator.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const migrationNames = fs
  .readdirSync(fileURLToPath(new URL('../../migrations', import.meta.url)))
  .filter((file) => file.endsWith('.ts'))
  .map((file) => file.replace(/\.ts$/, ''))
  .sort();

// The DATA_DIR lock guards PGlite's files against a second process; a PostgreSQL server needs no
// such lock (many processes share it), so there is nothing to check when the run targets one.
describe.skipIf(Boolean(process.env['TEST_DATABASE_URL']))('the embedded database in DATA_DIR', () => {
  let dataDir: string;
  const opened: DatabaseHandle[] = [];

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mekong-id-lock-'));
  });

  afterAll(async () => {
    for (const handle of opened.splice(0)) await handle.close().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses a second opener while the first holds it, pointing to DATABASE_URL, and opens again once closed', async () => {
    const first = await openDatabase({ kind: 'pglite', dataDir });
    opened.push(first);
    await sql`create table lock_probe (written_by text)`.execute(first.db);
    await sql`insert into lock_probe values ('first')`.execute(first.db);

    const second: unknown = await openDatabase({ kind: 'pglite', dataDir }).then(
      (handle) => {
        opened.push(handle);
        return new Error('the second open succeeded');
      },
      (error: unknown) => error,
    );
    expect(second).toBeInstanceOf(DatabaseLockedError);
    expect((second as Error).message).toContain('DATABASE_URL');
    expect((second as Error).message).toContain(dataDir);

    await first.close();
    opened.splice(opened.indexOf(first), 1);

    const again = await openDatabase({ kind: 'pglite', dataDir });
    opened.push(again);
    const { rows } = await sql<{ written_by: string }>`select written_by from lock_probe`.execute(again.db);
    expect(rows).toEqual([{ written_by: 'first' }]);
  });
});

describe('migrations on an already migrated database', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database.close();
  });

  it('applies nothing when migrated again', async () => {
    expect(await migrateToLatest(database.db)).toEqual([]);
  });

  it('lists every migration on disk as executed', async () => {
    const migrations = await listMigrations(database.db);
    expect(migrationNames.length).toBeGreaterThan(0);
    expect(migrations.map((migration) => migration.name).sort()).toEqual(migrationNames);
    for (const migration of migrations) expect(migration.executedAt).toBeInstanceOf(Date);
  });

  it('reports the schema as current', async () => {
    expect(await migrationsAreCurrent(database.db)).toBe(true);
  });
});

// Only a server can drop a client's connection; PGlite lives inside this process.
describe.skipIf(!process.env['TEST_DATABASE_URL'])('a PostgreSQL connection dropped by the server', () => {
  let database: TestDatabase;
  const reported: Error[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database.close();
  });

  it('is reported and replaced, and the process carries on', async () => {
    const handle = await openDatabase(database.target, { poolSize: 1, onConnectionError: (error) => reported.push(error) });
    try {
      const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(handle.db);
      await sql`select pg_terminate_backend(${rows[0]!.pid})`.execute(database.db);
      await expect.poll(() => reported.length).toBe(1);
      expect(reported[0]!.message).toContain('terminating connection');
      const after = await sql<{ one: number }>`select 1 as one`.execute(handle.db);
      expect(after.rows).toEqual([{ one: 1 }]);
    } finally {
      await handle.close();
    }
  });
});
