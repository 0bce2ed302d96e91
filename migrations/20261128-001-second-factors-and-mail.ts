import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Second factors. A TOTP secret is sealed with MASTER_KEY under a label naming the factor; a
  // passkey keeps only its public key. A TOTP factor is unconfirmed until its first code is checked.
  await db.schema
    .createTable('user_factors')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('kind', 'text', (col) => col.notNull().check(sql`kind in ('totp', 'webauthn')`))
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('totp_secret_sealed', 'text')
    // The last TOTP time step accepted: a code of that step or an earlier one is a replay.
    .addColumn('totp_last_step', 'bigint')
    .addColumn('credential_id', 'text', (col) => col.unique())
    .addColumn('public_key', 'text')
    .addColumn('sign_count', 'bigint')
    .addColumn('transports', 'jsonb')
    .addColumn('confirmed_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('user_factors_shape', sql`(kind = 'totp' and totp_secret_sealed is not null and credential_id is null)
      or (kind = 'webauthn' and credential_id is not null and public_key is not null and sign_count is not null and confirmed_at is not null)`)
    .execute();
  await db.schema.createIndex('user_factors_user_id_idx').on('user_factors').column('user_id').execute();

  // Recovery codes: 80 random bits each, so SHA-256 is enough to store them (nobody can search that space).
  await db.schema
    .createTable('recovery_codes')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('code_hash', 'text', (col) => col.notNull().unique())
    .addColumn('used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('recovery_codes_user_id_idx').on('recovery_codes').column('user_id').execute();

  // Policy: a unit's flag covers its whole subtree; a client's covers every sign-in to it.
  await db.schema.alterTable('org_units').addColumn('mfa_required', 'boolean', (col) => col.notNull().defaultTo(false)).execute();
  await db.schema.alterTable('clients').addColumn('mfa_required', 'boolean', (col) => col.notNull().defaultTo(false)).execute();

  // When the password was last set, for the optional periodic change.
  await db.schema.alterTable('users').addColumn('password_changed_at', 'timestamptz').execute();
  await sql`update users set password_changed_at = updated_at where password_hash is not null`.execute(db);

  // The outbox retries with backoff and says why the last attempt failed.
  await db.schema.alterTable('mail_outbox')
    .addColumn('next_attempt_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('last_error', 'text')
    .execute();
  await sql`create index mail_outbox_due_idx on mail_outbox (next_attempt_at) where sent_at is null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index mail_outbox_due_idx`.execute(db);
  await db.schema.alterTable('mail_outbox').dropColumn('next_attempt_at').dropColumn('last_error').execute();
  await db.schema.alterTable('users').dropColumn('password_changed_at').execute();
  await db.schema.alterTable('clients').dropColumn('mfa_required').execute();
  await db.schema.alterTable('org_units').dropColumn('mfa_required').execute();
  await db.schema.dropTable('recovery_codes').execute();
  await db.schema.dropTable('user_factors').execute();
}
