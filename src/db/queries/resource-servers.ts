import { sql, type Insertable, type Kysely } from 'kysely';

import type { Database, ResourceServer, ResourceServerScope, ResourceServersTable } from '../schema.ts';

/** APIs that apps serve (resource servers), their scopes, and which client may get tokens for which. */

export async function insertResourceServer(db: Kysely<Database>, row: Insertable<ResourceServersTable>): Promise<ResourceServer> {
  return db.insertInto('resource_servers').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findResourceServer(db: Kysely<Database>, id: string): Promise<ResourceServer | undefined> {
  return db.selectFrom('resource_servers').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findResourceServerByIdentifier(db: Kysely<Database>, identifier: string): Promise<ResourceServer | undefined> {
  return db.selectFrom('resource_servers').selectAll().where('identifier', '=', identifier).executeTakeFirst();
}

/**
 * Resource servers by name, then id; `ownedBy` keeps those served by an app this person owns,
 * `after` and `limit` page through them.
 */
export async function listResourceServers(
  db: Kysely<Database>,
  filter: { ownedBy?: string | undefined; status?: ResourceServer['status'] | undefined; after?: { name: string; id: string } | undefined; limit?: number | undefined } = {},
): Promise<ResourceServer[]> {
  let query = db.selectFrom('resource_servers').selectAll().orderBy('name').orderBy('id');
  if (filter.ownedBy !== undefined) {
    const userId = filter.ownedBy;
    query = query.where('owner_client_id', 'in', (eb) => eb.selectFrom('client_owners').select('client_id').where('user_id', '=', userId));
  }
  if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  if (filter.after) {
    const { name, id } = filter.after;
    query = query.where((eb) => eb.or([eb('name', '>', name), eb.and([eb('name', '=', name), eb('id', '>', id)])]));
  }
  if (filter.limit !== undefined) query = query.limit(filter.limit);
  return query.execute();
}

export async function updateResourceServer(
  db: Kysely<Database>, id: string, change: Partial<Pick<ResourceServer, 'name' | 'access_token_seconds' | 'access_token_format' | 'status'>>,
): Promise<void> {
  await db.updateTable('resource_servers').set({ ...change, updated_at: sql<Date>`now()` }).where('id', '=', id).execute();
}

export async function listResourceServerScopes(db: Kysely<Database>, resourceServerIds: readonly string[]): Promise<ResourceServerScope[]> {
  if (resourceServerIds.length === 0) return [];
  return db.selectFrom('resource_server_scopes').selectAll().where('resource_server_id', 'in', resourceServerIds).orderBy('name').execute();
}

/** The scopes an API defines become exactly these: one it no longer names leaves every grant holding it. */
export async function replaceResourceServerScopes(db: Kysely<Database>, resourceServerId: string, scopes: readonly { name: string; description: string }[]): Promise<void> {
  let removal = db.deleteFrom('resource_server_scopes').where('resource_server_id', '=', resourceServerId);
  if (scopes.length > 0) removal = removal.where('name', 'not in', scopes.map((scope) => scope.name));
  await removal.execute();
  if (scopes.length === 0) return;
  await db
    .insertInto('resource_server_scopes')
    .values(scopes.map((scope) => ({ resource_server_id: resourceServerId, name: scope.name, description: scope.description })))
    .onConflict((oc) => oc.columns(['resource_server_id', 'name']).doUpdateSet((eb) => ({ description: eb.ref('excluded.description') })))
    .execute();
}

export interface ResourceServerGrant {
  readonly client_id: string;
  readonly client_name: string | null;
  readonly scopes: string[];
  readonly granted_by: string;
  readonly created_at: Date;
}

/** Which clients may get tokens for the API, each with the scopes it holds, by client id. */
export async function listResourceServerGrants(db: Kysely<Database>, resourceServerId: string, clientId?: string): Promise<ResourceServerGrant[]> {
  let query = db
    .selectFrom('resource_server_grants as g')
    .innerJoin('clients as c', 'c.client_id', 'g.client_id')
    .select([
      'g.client_id',
      sql<string | null>`c.metadata->>'client_name'`.as('client_name'),
      sql<string[]>`json_agg(g.scope order by g.scope)`.as('scopes'),
      sql<string>`min(g.granted_by)`.as('granted_by'),
      sql<Date>`min(g.created_at)`.as('created_at'),
    ])
    .where('g.resource_server_id', '=', resourceServerId)
    .groupBy(['g.client_id', 'c.metadata'])
    .orderBy('g.client_id');
  if (clientId !== undefined) query = query.where('g.client_id', '=', clientId);
  return query.execute();
}

/** The client holds exactly these scopes of the API now (none: no grant at all). */
export async function replaceResourceServerGrant(
  db: Kysely<Database>, grant: { resourceServerId: string; clientId: string; scopes: readonly string[]; grantedBy: string },
): Promise<void> {
  await db.deleteFrom('resource_server_grants').where('resource_server_id', '=', grant.resourceServerId).where('client_id', '=', grant.clientId).execute();
  if (grant.scopes.length === 0) return;
  await db
    .insertInto('resource_server_grants')
    .values(grant.scopes.map((scope) => ({ resource_server_id: grant.resourceServerId, client_id: grant.clientId, scope, granted_by: grant.grantedBy })))
    .execute();
}

/**
 * An active resource server as the provider reads it for one token request: its settings and the
 * scopes granted to this client (empty when it holds none). Undefined unless the API is active.
 */
export async function findActiveResourceServerForClient(
  db: Kysely<Database>, identifier: string, clientId: string,
): Promise<(ResourceServer & { granted: string[] }) | undefined> {
  return db
    .selectFrom('resource_servers as rs')
    .selectAll('rs')
    .select(sql<string[]>`coalesce((select json_agg(g.scope order by g.scope) from resource_server_grants g where g.resource_server_id = rs.id and g.client_id = ${clientId}), '[]'::json)`.as('granted'))
    .where('rs.identifier', '=', identifier)
    .where('rs.status', '=', 'active')
    .executeTakeFirst();
}

/** Whether this client serves the active API with this identifier (and so may introspect its tokens). */
export async function servesActiveResourceServer(db: Kysely<Database>, identifier: string, clientId: string): Promise<boolean> {
  const row = await db
    .selectFrom('resource_servers')
    .select('id')
    .where('identifier', '=', identifier)
    .where('owner_client_id', '=', clientId)
    .where('status', '=', 'active')
    .executeTakeFirst();
  return row !== undefined;
}

/** The scopes of these APIs, with what each lets a token do and the API's name: for the consent page. */
export async function describeResourceServerScopes(
  db: Kysely<Database>, identifiers: readonly string[],
): Promise<{ identifier: string; api_name: string; name: string; description: string }[]> {
  if (identifiers.length === 0) return [];
  return db
    .selectFrom('resource_server_scopes as s')
    .innerJoin('resource_servers as rs', 'rs.id', 's.resource_server_id')
    .select(['rs.identifier', 'rs.name as api_name', 's.name', 's.description'])
    .where('rs.identifier', 'in', identifiers)
    .execute();
}
