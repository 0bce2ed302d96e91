import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Back-channel logout calls to send, queued in the transaction that ends the sessions and sent
  // afterwards by any node, with retries, like mail_outbox (same columns for the same lease and
  // backoff). The rows stay after delivery as its record: when, after how many tries, the last error.
  await db.schema
    .createTable('backchannel_logouts')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    // No foreign key: a client deleted later keeps its record, and its delivery fails as "not registered".
    .addColumn('client_id', 'text', (col) => col.notNull())
    // The subject of the logout token (the account's id as oidc-provider knows it) and the session id.
    .addColumn('account_id', 'text', (col) => col.notNull())
    .addColumn('sid', 'text', (col) => col.notNull())
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('next_attempt_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('sent_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .execute();
  await sql`create index backchannel_logouts_due_idx on backchannel_logouts (next_attempt_at) where sent_at is null`.execute(db);
  await db.schema.createIndex('backchannel_logouts_account_idx').on('backchannel_logouts').columns(['account_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('backchannel_logouts').execute();
}
