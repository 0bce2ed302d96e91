import type { Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Whether an app may pull the people its access policy covers through SCIM 2.0 (/scim/v2): a
  // global administrator's decision, off until they take it.
  await db.schema.alterTable('clients').addColumn('scim_access', 'boolean', (col) => col.notNull().defaultTo(false)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('scim_access').execute();
}
