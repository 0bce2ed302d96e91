import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // A merged-away account stays, as history: status "merged", pointing at the account that absorbed it.
  await sql`alter table users drop constraint users_status_check`.execute(db);
  await sql`alter table users add constraint users_status_check
    check (status in ('pending_activation', 'active', 'suspended', 'disabled', 'merged'))`.execute(db);
  await db.schema.alterTable('users').addColumn('merged_into', 'uuid', (col) => col.references('users.id')).execute();
  await sql`alter table users add constraint users_merged_into_status
    check ((status = 'merged') = (merged_into is not null) and merged_into is distinct from id)`.execute(db);
  await db.schema.createIndex('users_merged_into_idx').on('users').column('merged_into').where(sql.ref('merged_into'), 'is not', null).execute();

  // The `sub` an app knew for a person before a merge: the app keeps seeing alias_sub for user_id.
  await db.schema
    .createTable('subject_aliases')
    .addColumn('client_id', 'text', (col) => col.notNull().references('clients.client_id').onDelete('cascade'))
    .addColumn('alias_sub', 'text', (col) => col.notNull())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id'))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('subject_aliases_pkey', ['client_id', 'alias_sub'])
    // One sub per person per app.
    .addUniqueConstraint('subject_aliases_client_user_key', ['client_id', 'user_id'])
    .execute();
  // Every node keeps which sub each app knows people by in memory (oidc/subject-aliases.ts); a change
  // announces itself from the transaction that makes it, as clients' do (migration 20261201-010).
  await sql`
    create function mekong_announce_subject_alias_change() returns trigger language plpgsql as $$
    begin
      perform pg_notify('mekong_id_subject_aliases', '');
      return null;
    end
    $$`.execute(db);
  await sql`create trigger subject_aliases_announce_change after insert or update or delete or truncate on subject_aliases
    for each statement execute function mekong_announce_subject_alias_change()`.execute(db);

  // A second province's staff list, staged: each row, traced to its source, and what became of it.
  await db.schema
    .createTable('directory_merge_batches')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('source_code', 'text', (col) => col.notNull())
    .addColumn('file_name', 'text')
    .addColumn('staged_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('report', 'jsonb', (col) => col.notNull())
    .execute();
  await db.schema
    .createTable('directory_merge_rows')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('batch_id', 'uuid', (col) => col.notNull().references('directory_merge_batches.id').onDelete('cascade'))
    .addColumn('row', 'integer', (col) => col.notNull())
    // "<source code>:<employee code or username in the source directory>".
    .addColumn('source_id', 'text', (col) => col.notNull())
    .addColumn('values', 'jsonb', (col) => col.notNull())
    .addColumn('org_unit_id', 'uuid', (col) => col.notNull().references('org_units.id'))
    .addColumn('status', 'text', (col) => col.notNull().check(sql`status in ('pending', 'created', 'merged')`))
    // The account the row became (created) or was merged into.
    .addColumn('user_id', 'uuid', (col) => col.references('users.id'))
    .addColumn('username', 'text')
    .addColumn('renamed_from', 'text')
    .addUniqueConstraint('directory_merge_rows_source_key', ['batch_id', 'source_id'])
    .execute();

  // A likely duplicate: a staged row or an account (merged away) and the account that would absorb it.
  await db.schema
    .createTable('directory_merge_candidates')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('staged_row_id', 'uuid', (col) => col.references('directory_merge_rows.id').onDelete('cascade'))
    .addColumn('merged_user_id', 'uuid', (col) => col.references('users.id'))
    .addColumn('survivor_id', 'uuid', (col) => col.notNull().references('users.id'))
    .addColumn('rule', 'text', (col) => col.notNull()
      .check(sql`rule in ('national_id', 'email', 'phone', 'name_and_unit', 'named_by_admin')`))
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('pending').check(sql`status in ('pending', 'confirmed', 'dismissed')`))
    .addColumn('created_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('decided_by', 'text')
    .addColumn('decided_at', 'timestamptz')
    .addCheckConstraint('directory_merge_candidates_one_source', sql`(staged_row_id is null) <> (merged_user_id is null)`)
    .execute();
  await db.schema.createIndex('directory_merge_candidates_pending').on('directory_merge_candidates').column('created_at')
    .where(sql.ref('status'), '=', 'pending').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('directory_merge_candidates').execute();
  await db.schema.dropTable('directory_merge_rows').execute();
  await db.schema.dropTable('directory_merge_batches').execute();
  await db.schema.dropTable('subject_aliases').execute();
  await sql`drop function mekong_announce_subject_alias_change()`.execute(db);
  await sql`alter table users drop constraint users_merged_into_status`.execute(db);
  await db.schema.alterTable('users').dropColumn('merged_into').execute();
  await sql`alter table users drop constraint users_status_check`.execute(db);
  await sql`alter table users add constraint users_status_check
    check (status in ('pending_activation', 'active', 'suspended', 'disabled'))`.execute(db);
}
