import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Failed sign-ins counted per login name ("login:<name>"), per login name and source address
  // ("pair:<name>|<address>") and per source address ("address:<address>"); see domain/login-throttle.ts.
  await db.schema
    .createTable('login_throttle')
    .addColumn('key', 'text', (col) => col.primaryKey())
    .addColumn('failures', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('window_started_at', 'timestamptz', (col) => col.notNull())
    .addColumn('last_failure_at', 'timestamptz', (col) => col.notNull())
    .addColumn('locked_until', 'timestamptz')
    .execute();
  await sql`create index login_throttle_key_pattern_idx on login_throttle (key text_pattern_ops)`.execute(db);
  await db.schema.createIndex('login_throttle_last_failure_at_idx').on('login_throttle').column('last_failure_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('login_throttle').execute();
}
