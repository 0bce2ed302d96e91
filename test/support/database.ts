import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';
import { inject } from 'vitest';

import { openDatabase, type DatabaseHandle } from '../../src/db/database.ts';
import { withDatabase } from './global-setup.ts';

export interface TestDatabase extends DatabaseHandle {
  /** What to put in a config so that a server under test opens this same database. */
  readonly target: { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDir: string };
}

/**
 * A fresh, migrated database for one test file: a copy of the run's template, on PGlite by default
 * or on the PostgreSQL server named by TEST_DATABASE_URL. Closing it throws the copy away.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const postgres = inject('postgres');
  if (postgres) {
    const name = `mekong_test_${postgres.template.split('_').pop() ?? ''}_${randomBytes(6).toString('hex')}`;
    await withAdminClient(postgres.url, (client) => client.query(`create database ${name} template ${postgres.template}`));
    const target = { kind: 'postgres' as const, url: withDatabase(postgres.url, name) };
    let closing = false;
    const handle = await openDatabase(target, {
      poolSize: 5,
      // The forced drop below may end a connection the pool is still closing: expected then, a bug otherwise.
      onConnectionError: (error) => {
        if (!closing) throw error;
      },
    });
    return {
      ...handle,
      target,
      async close() {
        closing = true;
        await handle.close();
        await withAdminClient(postgres.url, (client) => client.query(`drop database if exists ${name} with (force)`));
      },
    };
  }

  const templateFile = inject('pgliteTemplate');
  if (!templateFile) throw new Error('the global setup did not build a database template');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mekong-id-test-'));
  const target = { kind: 'pglite' as const, dataDir };
  const handle = await openDatabase(target, { pgliteLoadDataDir: new Blob([fs.readFileSync(templateFile)]) });
  return {
    ...handle,
    target,
    async close() {
      await handle.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A short-lived connection to the server's maintenance database, for creating and dropping test databases. */
export async function withAdminClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}
