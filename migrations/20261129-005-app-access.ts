import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Who may use an app: everyone active (open), or only those an assignment covers (restricted).
  await db.schema.alterTable('clients')
    .addColumn('access_policy', 'text', (col) => col.notNull().defaultTo('open').check(sql`access_policy in ('open', 'restricted')`))
    .execute();

  // The roles an app declares for itself (the hospital system's doctor, nurse, pharmacist…).
  await db.schema
    .createTable('app_roles')
    .addColumn('client_id', 'text', (col) => col.notNull().references('clients.client_id').onDelete('cascade'))
    .addColumn('name', 'text', (col) => col.notNull().check(sql`name ~ '^[a-z][a-z0-9_.-]{0,63}$'`))
    .addColumn('description', 'text')
    .addPrimaryKeyConstraint('app_roles_pkey', ['client_id', 'name'])
    .execute();

  // An assignment opens an app to an org subtree, a group or one person, with some of its roles.
  await db.schema
    .createTable('app_assignments')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('client_id', 'text', (col) => col.notNull().references('clients.client_id').onDelete('cascade'))
    .addColumn('org_unit_id', 'uuid', (col) => col.references('org_units.id'))
    .addColumn('group_id', 'uuid', (col) => col.references('groups.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (col) => col.references('users.id').onDelete('cascade'))
    .addColumn('roles', 'jsonb', (col) => col.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('granted_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('app_assignments_one_holder', sql`num_nonnulls(org_unit_id, group_id, user_id) = 1`)
    .execute();
  await db.schema.createIndex('app_assignments_client_idx').on('app_assignments').column('client_id').execute();
  await sql`create unique index app_assignments_holder_key on app_assignments
    (client_id, coalesce(org_unit_id, group_id, user_id))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('app_assignments').execute();
  await db.schema.dropTable('app_roles').execute();
  await db.schema.alterTable('clients').dropColumn('access_policy').execute();
}
