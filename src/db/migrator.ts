import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Kysely } from 'kysely';
import { FileMigrationProvider, Migrator, type MigrationResultSet } from 'kysely/migration';

import type { Database } from './schema.ts';

const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

function createMigrator(db: Kysely<Database>): Migrator {
  return new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder }),
    migrationTableName: 'schema_migrations',
    migrationLockTableName: 'schema_migrations_lock',
  });
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/** Applies every pending migration, each in its own transaction, under Kysely's migration lock. */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const { error, results }: MigrationResultSet = await createMigrator(db).migrateToLatest();
  const failed = results?.find((result) => result.status === 'Error');
  if (error) {
    throw new MigrationError(`migration ${failed?.migrationName ?? '(none)'} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`, { cause: error });
  }
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}

export interface MigrationStatus {
  name: string;
  executedAt: Date | null;
}

export async function listMigrations(db: Kysely<Database>): Promise<MigrationStatus[]> {
  const migrations = await createMigrator(db).getMigrations();
  return migrations.map((migration) => ({ name: migration.name, executedAt: migration.executedAt ?? null }));
}

/** True when every migration on disk has been applied: readiness depends on it. */
export async function migrationsAreCurrent(db: Kysely<Database>): Promise<boolean> {
  return (await listMigrations(db)).every((migration) => migration.executedAt !== null);
}
