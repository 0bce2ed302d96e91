import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // A person's own change of mail address or phone number, waiting for proof that they receive
  // there: a link to the new address (256 random bits) or a code sent to the new number (6 digits,
  // so few tries are allowed and it expires in minutes). Only a SHA-256 of the secret is kept.
  await db.schema
    .createTable('contact_changes')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('kind', 'text', (col) => col.notNull().check(sql`kind in ('email', 'phone')`))
    .addColumn('new_value', 'text', (col) => col.notNull())
    .addColumn('secret_hash', 'text', (col) => col.notNull().unique())
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('contact_changes_user_id_idx').on('contact_changes').columns(['user_id', 'kind']).execute();

  // Whether the number was proven by a code sent to it; an admin's or an import's edit is not proof.
  await db.schema.alterTable('users').addColumn('phone_verified', 'boolean', (col) => col.notNull().defaultTo(false)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('phone_verified').execute();
  await db.schema.dropTable('contact_changes').execute();
}
