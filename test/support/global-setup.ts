import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

import { embeddedExtensions } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import type { Database } from '../../src/db/schema.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Embedded runs: a tarball of a migrated PGlite data directory, cloned by every test file. */
    pgliteTemplate: string | null;
    /** PostgreSQL runs: the server URL and the migrated template database every test file copies. */
    postgres: { url: string; template: string } | null;
  }
}

/**
 * Builds one migrated database per test run, so that each test file can start from a copy of it in
 * well under a second instead of creating and migrating its own.
 */
export default async function setup(project: TestProject): Promise<() => void | Promise<void>> {
  const url = process.env['TEST_DATABASE_URL'];
  if (url) return setUpPostgresTemplate(project, url);
  return setUpPgliteTemplate(project);
}

async function setUpPgliteTemplate(project: TestProject): Promise<() => void> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'mekong-id-template-'));
  const pglite = await PGlite.create({ extensions: embeddedExtensions });
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
  await migrateToLatest(db);
  const tarball = path.join(directory, 'template.tar');
  fs.writeFileSync(tarball, Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer()));
  await db.destroy();
  project.provide('pgliteTemplate', tarball);
  project.provide('postgres', null);
  return () => fs.rmSync(directory, { recursive: true, force: true });
}

async function setUpPostgresTemplate(project: TestProject, url: string): Promise<() => Promise<void>> {
  const template = `mekong_test_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`drop database if exists ${template}`);
  await admin.query(`create database ${template}`);
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: withDatabase(url, template), max: 1 }) }),
  });
  await migrateToLatest(db);
  await db.destroy();
  project.provide('pgliteTemplate', null);
  project.provide('postgres', { url, template });
  return async () => {
    // Test files drop their own copies; this catches any a crashed worker left behind.
    const leftovers = await admin.query<{ datname: string }>(
      `select datname from pg_database where datname like 'mekong_test_${process.pid}_%' or datname = $1`,
      [template],
    );
    for (const { datname } of leftovers.rows) await admin.query(`drop database if exists ${datname} with (force)`);
    await admin.end();
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
