import { sql, type Kysely } from 'kysely';

import type { Database } from '../schema.ts';

/** A staged upload as the review page shows it: its reports, not its file. */
export interface StoredImportRun {
  readonly id: string;
  readonly uploaded_by: string;
  readonly file_name: string;
  readonly dry_run_report: Record<string, unknown>;
  readonly applied_report: Record<string, unknown> | null;
  readonly applied_at: Date | null;
  readonly created_at: Date;
}

export async function insertImportRun(
  db: Kysely<Database>,
  run: { uploadedBy: string; fileName: string; content: Buffer; dryRunReport: unknown },
): Promise<string> {
  const { rows } = await sql<{ id: string }>`
    insert into import_runs (uploaded_by, file_name, content, dry_run_report)
    values (${run.uploadedBy}, ${run.fileName}, ${run.content}, ${JSON.stringify(run.dryRunReport)}::jsonb)
    returning id::text as id`.execute(db);
  return rows[0]!.id;
}

/** One run of one uploader, without its file (up to 20 MB, read only to apply it); another admin's run is not found. */
export async function findImportRun(db: Kysely<Database>, id: string, uploadedBy: string): Promise<StoredImportRun | undefined> {
  return db.selectFrom('import_runs')
    .select(['id', 'uploaded_by', 'file_name', 'dry_run_report', 'applied_report', 'applied_at', 'created_at'])
    .where(sql<boolean>`id::text = ${id}`).where('uploaded_by', '=', uploadedBy)
    .executeTakeFirst();
}

/** The file of a run found with findImportRun. */
export async function findImportFile(db: Kysely<Database>, id: string): Promise<Buffer> {
  const row = await db.selectFrom('import_runs').select('content').where(sql<boolean>`id::text = ${id}`).executeTakeFirstOrThrow();
  // The embedded database answers a bytea with a Uint8Array, PostgreSQL's driver with a Buffer: either way a view, not a copy.
  const bytes: Uint8Array = row.content;
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Takes a run for applying, in one conditional statement: of two clicks, one gets the run and the
 * other nothing. A run taken but never finished (the node died) can be taken again after an hour.
 */
export async function claimImportRun(db: Kysely<Database>, id: string, uploadedBy: string): Promise<boolean> {
  const result = await db.updateTable('import_runs')
    .set({ applied_at: sql<Date>`now()` })
    .where(sql<boolean>`id::text = ${id}`).where('uploaded_by', '=', uploadedBy)
    .where('applied_report', 'is', null)
    .where((eb) => eb.or([eb('applied_at', 'is', null), eb('applied_at', '<', sql<Date>`now() - interval '1 hour'`)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** A claim given back when the import failed: the import is idempotent, so the admin may try again. */
export async function releaseImportRun(db: Kysely<Database>, id: string): Promise<void> {
  await db.updateTable('import_runs').set({ applied_at: null }).where(sql<boolean>`id::text = ${id}`).where('applied_report', 'is', null).execute();
}

export async function markImportRunApplied(db: Kysely<Database>, id: string, report: unknown): Promise<void> {
  await sql`update import_runs set applied_report = ${JSON.stringify(report)}::jsonb, applied_at = now() where id = ${id}::uuid`.execute(db);
}

/** Uploads older than a day go: the file holds people's data and has done its job. */
export async function deleteStaleImportRuns(db: Kysely<Database>): Promise<number> {
  const result = await db.deleteFrom('import_runs').where('created_at', '<', sql<Date>`now() - interval '1 day'`).executeTakeFirst();
  return Number(result.numDeletedRows);
}
