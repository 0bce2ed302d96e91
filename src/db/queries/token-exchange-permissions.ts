import type { Kysely } from 'kysely';

import type { Database, TokenExchangePermission } from '../schema.ts';

/** Token exchange's allow-list: which client may obtain tokens for which audience (RFC 8693). */

export async function findTokenExchangePermission(
  db: Kysely<Database>,
  clientId: string,
  audience: string,
): Promise<TokenExchangePermission | undefined> {
  return db
    .selectFrom('token_exchange_permissions')
    .selectAll()
    .where('client_id', '=', clientId)
    .where('audience', '=', audience)
    .executeTakeFirst();
}

/** Adds a pair, or replaces its scopes; answers the row as it was before (undefined when new). */
export async function upsertTokenExchangePermission(
  db: Kysely<Database>,
  permission: { clientId: string; audience: string; scope: string; grantedBy: string },
): Promise<TokenExchangePermission | undefined> {
  const before = await findTokenExchangePermission(db, permission.clientId, permission.audience);
  await db
    .insertInto('token_exchange_permissions')
    .values({ client_id: permission.clientId, audience: permission.audience, scope: permission.scope, granted_by: permission.grantedBy })
    .onConflict((oc) => oc.columns(['client_id', 'audience']).doUpdateSet({ scope: permission.scope, granted_by: permission.grantedBy }))
    .execute();
  return before;
}

export async function deleteTokenExchangePermission(db: Kysely<Database>, clientId: string, audience: string): Promise<TokenExchangePermission | undefined> {
  return db
    .deleteFrom('token_exchange_permissions')
    .where('client_id', '=', clientId)
    .where('audience', '=', audience)
    .returningAll()
    .executeTakeFirst();
}

/** The allow-list in (client, audience) order; `after` and `limit` page through it. */
export async function listTokenExchangePermissions(
  db: Kysely<Database>,
  filter: { clientId?: string | undefined; after?: { clientId: string; audience: string } | undefined; limit?: number | undefined } = {},
): Promise<TokenExchangePermission[]> {
  let query = db.selectFrom('token_exchange_permissions').selectAll().orderBy('client_id').orderBy('audience');
  if (filter.clientId !== undefined) query = query.where('client_id', '=', filter.clientId);
  if (filter.after) {
    const { clientId, audience } = filter.after;
    query = query.where((eb) => eb.or([eb('client_id', '>', clientId), eb.and([eb('client_id', '=', clientId), eb('audience', '>', audience)])]));
  }
  if (filter.limit !== undefined) query = query.limit(filter.limit);
  return query.execute();
}
