import type { Kysely } from 'kysely';

import type { Database } from '../schema.ts';

export async function assignRole(db: Kysely<Database>, userId: string, role: string): Promise<void> {
  await db
    .insertInto('role_assignments')
    .values({ user_id: userId, role })
    .onConflict((oc) => oc.columns(['user_id', 'role']).doNothing())
    .execute();
}

export async function countUsersWithRole(db: Kysely<Database>, role: string): Promise<number> {
  const row = await db
    .selectFrom('role_assignments')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('role', '=', role)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}
