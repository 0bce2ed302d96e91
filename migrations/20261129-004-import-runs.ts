import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // An import through the admin console: the file checked once (the dry run the admin reviews),
  // then applied from the same stored copy, on any node; the reports stay for the download.
  // Swept a day after it was uploaded.
  await db.schema
    .createTable('import_runs')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('uploaded_by', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('file_name', 'text', (col) => col.notNull())
    .addColumn('content', 'bytea', (col) => col.notNull())
    .addColumn('dry_run_report', 'jsonb', (col) => col.notNull())
    .addColumn('applied_report', 'jsonb')
    .addColumn('applied_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('import_runs_created_at_idx').on('import_runs').column('created_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('import_runs').execute();
}
