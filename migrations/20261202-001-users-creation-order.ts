import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

/**
 * People in the order they were added, for the `created_at` and `newest` lists. A search (`q`) lists
 * the newest first: walking this index, the words find their matches evenly spread, whereas in name
 * order a common family name's matches all sit together, far down the index, behind everyone else.
 * It holds the search text too, so that the walk tests the words without reading the rows it passes.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index users_created_at_idx on users (created_at, id) include (search_text)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('users_created_at_idx').execute();
}
