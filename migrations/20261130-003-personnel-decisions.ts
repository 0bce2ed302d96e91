import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Official personnel decisions (quyết định): who joins, moves, serves concurrently or leaves, from when.
  await db.schema
    .createTable('personnel_decisions')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('kind', 'text', (col) => col.notNull().check(sql`kind in ('appointment', 'transfer', 'concurrent_appointment', 'leave', 'retirement', 'dismissal')`))
    .addColumn('decision_number', 'text', (col) => col.notNull())
    .addColumn('decision_date', 'date', (col) => col.notNull())
    .addColumn('effective_date', 'date', (col) => col.notNull())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    // The person's primary unit when the decision was recorded, and the unit it places them in.
    .addColumn('org_unit_before_id', 'uuid', (col) => col.references('org_units.id'))
    .addColumn('org_unit_after_id', 'uuid', (col) => col.references('org_units.id'))
    .addColumn('position', 'text')
    .addColumn('note', 'text')
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('pending').check(sql`status in ('pending', 'applied', 'cancelled')`))
    .addColumn('recorded_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('applied_at', 'timestamptz')
    .addColumn('cancelled_at', 'timestamptz')
    .addColumn('cancelled_by', 'text')
    // Why the job could not apply it yet (a closed unit, the last super administrator); retried on every run.
    .addColumn('last_error', 'text')
    .addCheckConstraint('personnel_decisions_unit_after', sql`(kind in ('appointment', 'transfer', 'concurrent_appointment')) = (org_unit_after_id is not null)`)
    .execute();
  await sql`create index personnel_decisions_due_idx on personnel_decisions (effective_date) where status = 'pending'`.execute(db);
  await db.schema.createIndex('personnel_decisions_user_idx').on('personnel_decisions').column('user_id').execute();
  // The same decision recorded twice for the same person is a mistake, not a second decision.
  await sql`create unique index personnel_decisions_once_key on personnel_decisions (decision_number, decision_date, user_id, kind)
    where status <> 'cancelled'`.execute(db);

  // A mover keeps what came from their old unit for a grace period: these rows end at ends_at, when the governance job removes them.
  for (const table of ['user_org_units', 'group_members', 'role_assignments']) {
    await db.schema.alterTable(table).addColumn('ends_at', 'timestamptz').execute();
  }

  // The inactivity policy: per unit (the nearest unit above a person with a setting wins), else the configured default; 0 turns it off.
  await db.schema.alterTable('org_units')
    .addColumn('inactivity_warn_days', 'integer', (col) => col.check(sql`inactivity_warn_days >= 0`))
    .addColumn('inactivity_suspend_days', 'integer', (col) => col.check(sql`inactivity_suspend_days >= 0`))
    .execute();
  await db.schema.alterTable('users')
    // When the account last became active (activation, re-enabling): inactivity counts from here when it is later than the last login.
    .addColumn('active_since', 'timestamptz')
    // When the person was last warned of inactivity: once per stretch without a login.
    .addColumn('inactivity_warned_at', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('inactivity_warned_at').dropColumn('active_since').execute();
  await db.schema.alterTable('org_units').dropColumn('inactivity_suspend_days').dropColumn('inactivity_warn_days').execute();
  for (const table of ['role_assignments', 'group_members', 'user_org_units']) {
    await db.schema.alterTable(table).dropColumn('ends_at').execute();
  }
  await db.schema.dropTable('personnel_decisions').execute();
}
