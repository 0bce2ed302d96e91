import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // APIs that apps register, besides Mekong ID's own (the admin API and SCIM): each is a resource
  // indicator (RFC 8707) that tokens name as their audience, served by one registered app (the
  // owner app, which may introspect their tokens). Pending until a global administrator approves.
  await db.schema
    .createTable('resource_servers')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('identifier', 'text', (col) => col.notNull().unique())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('owner_client_id', 'text', (col) => col.notNull().references('clients.client_id').onDelete('cascade'))
    .addColumn('access_token_seconds', 'integer', (col) => col.notNull().check(sql`access_token_seconds between 60 and 86400`))
    .addColumn('access_token_format', 'text', (col) => col.notNull().defaultTo('jwt').check(sql`access_token_format in ('jwt', 'opaque')`))
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('pending').check(sql`status in ('pending', 'active', 'disabled', 'rejected')`))
    // "user:<id>" or "client:<id>": whoever declared it may not also approve it.
    .addColumn('declared_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('resource_servers_owner_idx').on('resource_servers').column('owner_client_id').execute();

  // The scopes an API defines, each with what it lets a token do there (shown to people at consent).
  await db.schema
    .createTable('resource_server_scopes')
    .addColumn('resource_server_id', 'uuid', (col) => col.notNull().references('resource_servers.id').onDelete('cascade'))
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('description', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('resource_server_scopes_pkey', ['resource_server_id', 'name'])
    .execute();

  // Which client may obtain tokens for which API, with which of its scopes: one row a scope. A
  // scope the API stops defining leaves every grant with it; a deleted client leaves its grants.
  await db.schema
    .createTable('resource_server_grants')
    .addColumn('resource_server_id', 'uuid', (col) => col.notNull())
    .addColumn('client_id', 'text', (col) => col.notNull().references('clients.client_id').onDelete('cascade'))
    .addColumn('scope', 'text', (col) => col.notNull())
    .addColumn('granted_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('resource_server_grants_pkey', ['resource_server_id', 'client_id', 'scope'])
    .addForeignKeyConstraint('resource_server_grants_scope_fkey', ['resource_server_id', 'scope'], 'resource_server_scopes', ['resource_server_id', 'name'], (fk) => fk.onDelete('cascade'))
    .execute();
  await db.schema.createIndex('resource_server_grants_client_idx').on('resource_server_grants').column('client_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('resource_server_grants').execute();
  await db.schema.dropTable('resource_server_scopes').execute();
  await db.schema.dropTable('resource_servers').execute();
}
