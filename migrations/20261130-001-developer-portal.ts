import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // An app a developer registers waits for an administrator (pending); one they turn down is kept,
  // rejected, so the developer sees why it never went live and the audit log keeps naming it.
  await sql`alter table clients drop constraint clients_status_check`.execute(db);
  await sql`alter table clients add constraint clients_status_check check (status in ('pending', 'active', 'disabled', 'rejected'))`.execute(db);

  // A rotated secret keeps working until its overlap ends, so the app can switch without downtime.
  await db.schema.alterTable('clients')
    .addColumn('previous_secret_hash', 'text')
    .addColumn('previous_secret_expires_at', 'timestamptz')
    .execute();
  await db.schema.alterTable('clients')
    .addCheckConstraint('clients_previous_secret_expiry', sql`(previous_secret_hash is null) = (previous_secret_expires_at is null)`)
    .execute();

  // The people who look after an app from the developer portal: whoever registered it, and the
  // co-owners they added. Nobody else may see or change it there.
  await db.schema
    .createTable('client_owners')
    .addColumn('client_id', 'text', (col) => col.notNull().references('clients.client_id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('added_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('client_owners_pkey', ['client_id', 'user_id'])
    .execute();
  await db.schema.createIndex('client_owners_user_idx').on('client_owners').column('user_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('client_owners').execute();
  await db.schema.alterTable('clients').dropConstraint('clients_previous_secret_expiry').execute();
  await db.schema.alterTable('clients').dropColumn('previous_secret_hash').dropColumn('previous_secret_expires_at').execute();
  await sql`update clients set status = 'disabled' where status in ('pending', 'rejected')`.execute(db);
  await sql`alter table clients drop constraint clients_status_check`.execute(db);
  await sql`alter table clients add constraint clients_status_check check (status in ('active', 'disabled'))`.execute(db);
}
