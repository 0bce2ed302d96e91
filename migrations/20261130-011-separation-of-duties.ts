import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Separation of duties: two app roles one person must not hold in the same unit (the task
  // system's creator and approver). The roles may belong to one app or to two. A rule goes with
  // either role: an app that stops declaring a role takes its rules along.
  await db.schema
    .createTable('sod_rules')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('description', 'text')
    .addColumn('client_a', 'text', (col) => col.notNull())
    .addColumn('role_a', 'text', (col) => col.notNull())
    .addColumn('client_b', 'text', (col) => col.notNull())
    .addColumn('role_b', 'text', (col) => col.notNull())
    .addColumn('created_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addForeignKeyConstraint('sod_rules_role_a_fkey', ['client_a', 'role_a'], 'app_roles', ['client_id', 'name'], (fk) => fk.onDelete('cascade'))
    .addForeignKeyConstraint('sod_rules_role_b_fkey', ['client_b', 'role_b'], 'app_roles', ['client_id', 'name'], (fk) => fk.onDelete('cascade'))
    .addCheckConstraint('sod_rules_two_roles', sql`(client_a, role_a) <> (client_b, role_b)`)
    .execute();
  // One rule per pair, whichever way round it was written.
  await sql`create unique index sod_rules_pair on sod_rules (least(client_a || ' ' || role_a, client_b || ' ' || role_b), greatest(client_a || ' ' || role_a, client_b || ' ' || role_b))`.execute(db);
  await db.schema.createIndex('sod_rules_role_b').on('sod_rules').columns(['client_b', 'role_b']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sod_rules').execute();
}
