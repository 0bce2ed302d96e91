import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // A campaign: the access to one app, or to every restricted app within one subtree, or both,
  // reviewed by the people's unit admins or by named reviewers until a due date.
  await db.schema
    .createTable('access_reviews')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('client_id', 'text', (col) => col.references('clients.client_id').onDelete('cascade'))
    .addColumn('org_unit_id', 'uuid', (col) => col.references('org_units.id'))
    .addColumn('reviewers', 'text', (col) => col.notNull().check(sql`reviewers in ('unit_admins', 'named')`))
    // What an item nobody decided becomes when the campaign closes.
    .addColumn('default_decision', 'text', (col) => col.notNull().check(sql`default_decision in ('keep', 'revoke')`))
    .addColumn('due_at', 'timestamptz', (col) => col.notNull())
    .addColumn('reminder_days', 'integer', (col) => col.notNull().defaultTo(3).check(sql`reminder_days between 1 and 90`))
    .addColumn('last_reminded_at', 'timestamptz')
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('open').check(sql`status in ('open', 'closed')`))
    .addColumn('created_by', 'text', (col) => col.notNull())
    .addColumn('created_by_user_id', 'uuid', (col) => col.references('users.id').onDelete('set null'))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('closed_at', 'timestamptz')
    .addColumn('closed_by', 'text')
    .addCheckConstraint('access_reviews_scope', sql`client_id is not null or org_unit_id is not null`)
    .execute();
  await db.schema.createIndex('access_reviews_open_due').on('access_reviews').column('due_at').where(sql.ref('status'), '=', 'open').execute();

  // One person's access to one app, as it stood when the campaign started, and what became of it.
  await db.schema
    .createTable('access_review_items')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('review_id', 'uuid', (col) => col.notNull().references('access_reviews.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('client_id', 'text', (col) => col.notNull().references('clients.client_id').onDelete('cascade'))
    .addColumn('org_unit_id', 'uuid', (col) => col.references('org_units.id'))
    .addColumn('roles', 'jsonb', (col) => col.notNull())
    // How the access was granted: [{ kind: unit | group | person, name }].
    .addColumn('granted_via', 'jsonb', (col) => col.notNull())
    .addColumn('decision', 'text', (col) => col.check(sql`decision in ('keep', 'revoke')`))
    .addColumn('comment', 'text')
    .addColumn('decided_by', 'uuid', (col) => col.references('users.id').onDelete('set null'))
    .addColumn('decided_at', 'timestamptz')
    // Set at the close when nobody decided: the campaign's default applied.
    .addColumn('decided_by_default', 'boolean', (col) => col.notNull().defaultTo(false))
    .addUniqueConstraint('access_review_items_once', ['review_id', 'user_id', 'client_id'])
    .execute();

  await db.schema
    .createTable('access_review_reviewers')
    .addColumn('item_id', 'uuid', (col) => col.notNull().references('access_review_items.id').onDelete('cascade'))
    .addColumn('reviewer_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('access_review_reviewers_pkey', ['item_id', 'reviewer_id'])
    .execute();
  await db.schema.createIndex('access_review_reviewers_reviewer').on('access_review_reviewers').column('reviewer_id').execute();

  // A revoked access: the person stays outside the app whatever unit or group assignment would
  // cover them, until someone assigns the app to them by name.
  await db.schema
    .createTable('app_access_exclusions')
    .addColumn('client_id', 'text', (col) => col.notNull().references('clients.client_id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('review_id', 'uuid', (col) => col.references('access_reviews.id').onDelete('set null'))
    .addColumn('created_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('app_access_exclusions_pkey', ['client_id', 'user_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('app_access_exclusions').execute();
  await db.schema.dropTable('access_review_reviewers').execute();
  await db.schema.dropTable('access_review_items').execute();
  await db.schema.dropTable('access_reviews').execute();
}
