import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // A reorganization: steps taken from official decisions, all effective on one date, applied
  // together in one transaction by the scheduled governance job.
  await db.schema
    .createTable('reorganization_plans')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('effective_date', 'date', (col) => col.notNull())
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('draft').check(sql`status in ('draft', 'scheduled', 'applied', 'cancelled')`))
    // Steps as a JSON array: each names its kind, its decision (number, date) and its units by code.
    .addColumn('steps', 'jsonb', (col) => col.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('version', 'integer', (col) => col.notNull().defaultTo(1))
    .addColumn('scheduled_by', 'text')
    .addColumn('scheduled_at', 'timestamptz')
    // The losses the admin saw in the dry run and accepted when scheduling: the job refuses to apply
    // a plan whose dry run, on the day, would lose anything more.
    .addColumn('accepted_losses', 'jsonb')
    .addColumn('cancelled_by', 'text')
    .addColumn('cancelled_at', 'timestamptz')
    .addColumn('applied_at', 'timestamptz')
    // The dry run the job computed and carried out, in the same transaction.
    .addColumn('applied_report', 'jsonb')
    // Why the job could not apply it yet; retried on every run until applied or cancelled.
    .addColumn('last_error', 'text')
    .execute();
  await sql`create index reorganization_plans_due_idx on reorganization_plans (effective_date) where status = 'scheduled'`.execute(db);

  // The old structure stays: a merged or abolished unit is closed with a link to where its people went.
  await db.schema.alterTable('org_units').addColumn('successor_id', 'uuid', (col) => col.references('org_units.id')).execute();

  // Each unit's state before a plan changed it, so that the tree can be drawn as it stood on any date.
  await db.schema
    .createTable('org_unit_history')
    .addColumn('id', 'bigserial', (col) => col.primaryKey())
    .addColumn('org_unit_id', 'uuid', (col) => col.notNull().references('org_units.id'))
    .addColumn('plan_id', 'uuid', (col) => col.notNull().references('reorganization_plans.id'))
    .addColumn('changed_at', 'timestamptz', (col) => col.notNull())
    // code, name, kind, parent_id, path, depth and status as they were until changed_at.
    .addColumn('before', 'jsonb', (col) => col.notNull())
    .addColumn('after', 'jsonb', (col) => col.notNull())
    .execute();
  await db.schema.createIndex('org_unit_history_unit_idx').on('org_unit_history').columns(['org_unit_id', 'changed_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('org_unit_history').execute();
  await db.schema.alterTable('org_units').dropColumn('successor_id').execute();
  await db.schema.dropTable('reorganization_plans').execute();
}
