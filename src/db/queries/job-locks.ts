import { sql, type Kysely } from 'kysely';

import type { Database } from '../schema.ts';

/**
 * Runs a periodic job on one node at a time: a PostgreSQL session advisory lock, tried (never
 * waited for) on one pooled connection that the job then uses throughout, and released after.
 * Undefined when another node holds the lock and the job was skipped here.
 */
export async function runExclusively<T>(db: Kysely<Database>, job: string, run: (connection: Kysely<Database>) => Promise<T>): Promise<T | undefined> {
  const key = `mekong_id.job.${job}`;
  return db.connection().execute(async (connection) => {
    const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(hashtext(${key})) as locked`.execute(connection);
    if (rows[0]?.locked !== true) return undefined;
    try {
      return await run(connection);
    } finally {
      await sql`select pg_advisory_unlock(hashtext(${key}))`.execute(connection);
    }
  });
}
