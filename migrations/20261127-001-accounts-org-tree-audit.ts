import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Trigram indexes make the accent-insensitive substring search over users cheap.
  await sql`create extension if not exists pg_trgm`.execute(db);

  // The org tree. `path` is the materialized path of ids from the root ("/<root>/<child>/"), so a
  // subtree is one indexed prefix match and a move rewrites the paths under the moved unit.
  await db.schema
    .createTable('org_units')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('code', 'text', (col) => col.notNull())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('kind', 'text', (col) =>
      col.notNull().check(sql`kind in ('province', 'department', 'district', 'office', 'commune', 'hospital', 'health_centre', 'health_station', 'unit')`))
    .addColumn('parent_id', 'uuid', (col) => col.references('org_units.id'))
    .addColumn('path', 'text', (col) => col.notNull())
    .addColumn('depth', 'integer', (col) => col.notNull())
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('active').check(sql`status in ('active', 'closed')`))
    .addColumn('version', 'integer', (col) => col.notNull().defaultTo(1))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('closed_at', 'timestamptz')
    .execute();
  await sql`create unique index org_units_code_key on org_units (upper(code))`.execute(db);
  await sql`create unique index org_units_path_key on org_units (path text_pattern_ops)`.execute(db);
  await db.schema.createIndex('org_units_parent_id_idx').on('org_units').column('parent_id').execute();

  // How names are searched and sorted, defined once, here, for both the column and the query side.
  // The search key folds case and diacritics: NFD, drop the combining marks, đ→d, lower-case, so
  // "Đặng" and "dang" meet. Only ASCII is left to lower(), which folds it alike under every collation. The sort key follows the Vietnamese alphabet (a ă â b c d đ e ê … o ô ơ
  // … u ư …): each letter becomes two characters, the base letter and its modifier (0 none, 1 breve
  // or đ, 2 circumflex, 3 horn), with the tone marks dropped at this level.
  await sql`create function mekong_search_key(value text) returns text language sql immutable strict parallel safe
    return lower(translate(regexp_replace(normalize(value, NFD), '[\\u0300-\\u036f]', '', 'g'), 'đĐ', 'dD'))`.execute(db);
  await sql`create function mekong_sort_key(value text) returns text language sql immutable strict parallel safe
    return translate(
      regexp_replace(
        regexp_replace(lower(regexp_replace(normalize(value, NFD), '[đĐ]', 'd' || U&'\\0306', 'g')), '[\\u0300\\u0301\\u0303\\u0309\\u0323]', '', 'g'),
        '([a-z])(?![\\u0302\\u0306\\u031b])', '\\10', 'g'),
      U&'\\0306\\0302\\031b', '123')`.execute(db);

  await db.schema
    .alterTable('users')
    .addColumn('employee_code', 'text')
    .addColumn('national_id', 'text')
    .addColumn('position', 'text')
    .addColumn('primary_org_unit_id', 'uuid', (col) => col.references('org_units.id'))
    .addColumn('version', 'integer', (col) => col.notNull().defaultTo(1))
    .execute();
  // Generated, so no writer can forget them; collated "C" so that PostgreSQL and PGlite order alike.
  await sql`alter table users
    add column search_text text collate "C" generated always as (
      mekong_search_key(full_name || ' ' || username || ' ' || coalesce(email, '') || ' ' || coalesce(employee_code, ''))
    ) stored,
    add column family_name_sort text collate "C" generated always as (
      mekong_sort_key(full_name) || '|' || full_name
    ) stored,
    add column given_name_sort text collate "C" generated always as (
      mekong_sort_key(coalesce(substring(full_name from '(\\S+)\\s*$'), '')) || ' ' || mekong_sort_key(full_name) || '|' || full_name
    ) stored`.execute(db);
  await sql`create unique index users_employee_code_key on users (upper(employee_code)) where employee_code is not null`.execute(db);
  await sql`create unique index users_national_id_key on users (national_id) where national_id is not null`.execute(db);
  await sql`create index users_search_text_trgm_idx on users using gin (search_text gin_trgm_ops)`.execute(db);
  await db.schema.createIndex('users_primary_org_unit_id_idx').on('users').column('primary_org_unit_id').execute();
  await db.schema.createIndex('users_family_name_sort_idx').on('users').columns(['family_name_sort', 'id']).execute();
  await db.schema.createIndex('users_given_name_sort_idx').on('users').columns(['given_name_sort', 'id']).execute();

  // Concurrent appointments: the units a person serves in besides their primary one.
  await db.schema
    .createTable('user_org_units')
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('org_unit_id', 'uuid', (col) => col.notNull().references('org_units.id'))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('user_org_units_pkey', ['user_id', 'org_unit_id'])
    .execute();
  await db.schema.createIndex('user_org_units_org_unit_id_idx').on('user_org_units').column('org_unit_id').execute();

  await db.schema
    .createTable('groups')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('org_unit_id', 'uuid', (col) => col.notNull().references('org_units.id'))
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('description', 'text')
    .addColumn('version', 'integer', (col) => col.notNull().defaultTo(1))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create unique index groups_unit_name_key on groups (org_unit_id, lower(name))`.execute(db);

  await db.schema
    .createTable('group_members')
    .addColumn('group_id', 'uuid', (col) => col.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('group_members_pkey', ['group_id', 'user_id'])
    .execute();
  await db.schema.createIndex('group_members_user_id_idx').on('group_members').column('user_id').execute();

  // Role assignments now hold every admin role, for a user or a service client, globally (no unit)
  // or over one unit's subtree.
  await sql`alter table role_assignments drop constraint role_assignments_user_role_key`.execute(db);
  await sql`alter table role_assignments alter column user_id drop not null`.execute(db);
  await db.schema
    .alterTable('role_assignments')
    .addColumn('client_id', 'text', (col) => col.references('clients.client_id').onDelete('cascade'))
    .addColumn('org_unit_id', 'uuid', (col) => col.references('org_units.id'))
    .addColumn('granted_by', 'text')
    .execute();
  await sql`alter table role_assignments add constraint role_assignments_one_holder check ((user_id is null) <> (client_id is null))`.execute(db);
  await sql`alter table role_assignments add constraint role_assignments_role_check
    check (role in ('super_admin', 'org_admin', 'helpdesk', 'auditor', 'developer'))`.execute(db);
  await sql`alter table role_assignments add constraint role_assignments_super_admin_global
    check (role <> 'super_admin' or org_unit_id is null)`.execute(db);
  await sql`create unique index role_assignments_key on role_assignments (user_id, client_id, role, org_unit_id) nulls not distinct`.execute(db);
  await db.schema.createIndex('role_assignments_client_id_idx').on('role_assignments').column('client_id').execute();

  // Single-use links (activation now, password reset later). Only a hash of the token is kept.
  await db.schema
    .createTable('account_tokens')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('purpose', 'text', (col) => col.notNull().check(sql`purpose in ('activation', 'password_reset')`))
    .addColumn('token_hash', 'text', (col) => col.notNull().unique())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('account_tokens_user_id_idx').on('account_tokens').column('user_id').execute();

  // Mail waiting to be sent. A secret the mail carries (an activation link) is sealed with MASTER_KEY.
  await db.schema
    .createTable('mail_outbox')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('recipient', 'text', (col) => col.notNull())
    .addColumn('template', 'text', (col) => col.notNull())
    .addColumn('params', 'jsonb', (col) => col.notNull())
    .addColumn('secret_sealed', 'text')
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('sent_at', 'timestamptz')
    .execute();

  // The audit log: append-only (the trigger below) and hash-chained (each row's hash covers the
  // previous row's hash and its own canonical form; see domain/audit.ts).
  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'bigserial', (col) => col.primaryKey())
    .addColumn('occurred_at', 'timestamptz', (col) => col.notNull())
    .addColumn('actor_type', 'text', (col) => col.notNull().check(sql`actor_type in ('user', 'client', 'system', 'anonymous')`))
    .addColumn('actor_id', 'text')
    .addColumn('actor_name', 'text')
    .addColumn('action', 'text', (col) => col.notNull())
    .addColumn('outcome', 'text', (col) => col.notNull().check(sql`outcome in ('success', 'failure', 'denied')`))
    .addColumn('target_type', 'text')
    .addColumn('target_id', 'text')
    .addColumn('org_unit_id', 'uuid')
    .addColumn('before', 'jsonb')
    .addColumn('after', 'jsonb')
    .addColumn('details', 'jsonb')
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('request_id', 'text')
    .addColumn('prev_hash', 'text', (col) => col.notNull())
    .addColumn('hash', 'text', (col) => col.notNull())
    .execute();
  // The head of the chain: the newest row's id and hash. Writers lock this row to append, which
  // orders them (under any isolation level: a stale snapshot fails instead of forking the chain),
  // and verification checks the last row against it, so removing the newest rows shows too.
  await db.schema
    .createTable('audit_chain_head')
    .addColumn('singleton', 'boolean', (col) => col.primaryKey().defaultTo(true).check(sql`singleton`))
    .addColumn('last_id', 'bigint')
    .addColumn('hash', 'text', (col) => col.notNull())
    .addColumn('count', 'bigint', (col) => col.notNull().defaultTo(0))
    .execute();
  await sql`insert into audit_chain_head (singleton, last_id, hash, count) values (true, null, ${'0'.repeat(64)}, 0)`.execute(db);
  await db.schema.createIndex('audit_events_occurred_at_idx').on('audit_events').column('occurred_at').execute();
  await db.schema.createIndex('audit_events_actor_idx').on('audit_events').column('actor_id').execute();
  await db.schema.createIndex('audit_events_target_idx').on('audit_events').columns(['target_type', 'target_id']).execute();
  await db.schema.createIndex('audit_events_action_idx').on('audit_events').column('action').execute();
  await db.schema.createIndex('audit_events_org_unit_id_idx').on('audit_events').column('org_unit_id').execute();
  await sql`
    create function audit_events_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_events is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end
    $$`.execute(db);
  await sql`create trigger audit_events_append_only before update or delete on audit_events
    for each row execute function audit_events_refuse_change()`.execute(db);
  await sql`create trigger audit_events_no_truncate before truncate on audit_events
    for each statement execute function audit_events_refuse_change()`.execute(db);

  // Whose artifact each oidc-provider row is, so that disabling a person finds all of theirs at once.
  await db.schema.alterTable('oidc_payloads').addColumn('account_id', 'text').execute();
  await db.schema.createIndex('oidc_payloads_account_id_idx').on('oidc_payloads').column('account_id')
    .where(sql.ref('account_id'), 'is not', null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('oidc_payloads').dropColumn('account_id').execute();
  await db.schema.dropTable('audit_chain_head').execute();
  await db.schema.dropTable('audit_events').execute();
  await sql`drop function audit_events_refuse_change()`.execute(db);
  for (const table of ['mail_outbox', 'account_tokens', 'group_members', 'groups', 'user_org_units']) {
    await db.schema.dropTable(table).execute();
  }
  await sql`drop index role_assignments_key`.execute(db);
  await sql`delete from role_assignments where user_id is null or role <> 'super_admin'`.execute(db);
  await sql`alter table role_assignments drop constraint role_assignments_one_holder,
    drop constraint role_assignments_role_check, drop constraint role_assignments_super_admin_global,
    drop column client_id, drop column org_unit_id, drop column granted_by,
    alter column user_id set not null,
    add constraint role_assignments_user_role_key unique (user_id, role)`.execute(db);
  await db.schema.alterTable('users')
    .dropColumn('employee_code').dropColumn('national_id').dropColumn('position').dropColumn('primary_org_unit_id')
    .dropColumn('version').dropColumn('search_text').dropColumn('family_name_sort').dropColumn('given_name_sort')
    .execute();
  await sql`drop function mekong_sort_key(text)`.execute(db);
  await sql`drop function mekong_search_key(text)`.execute(db);
  await db.schema.dropTable('org_units').execute();
}
