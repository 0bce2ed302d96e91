import type { Kysely } from 'kysely';
import { errors, type Client, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';

import { findActiveResourceServerForClient, servesActiveResourceServer } from '../db/queries/resource-servers.ts';
import type { Database } from '../db/schema.ts';

/**
 * The APIs apps registered (domain/resource-servers.ts), as oidc-provider reads them: read from
 * the database at every token request, so a disabled API or a revoked grant counts at once.
 */

/**
 * What a token for a registered API carries: only the scopes granted to this client. A person's
 * consent (or a first-party app's standing) narrows those further, as for any scope; a token an
 * app gets for itself (client_credentials) asks only for granted scopes, or is refused.
 */
export async function registeredResourceServer(db: Kysely<Database>, ctx: KoaContextWithOIDC, identifier: string, client: Client): Promise<ResourceServer> {
  const server = await findActiveResourceServerForClient(db, identifier, client.clientId);
  if (!server) throw new errors.InvalidTarget(`no active API is registered with the resource indicator ${identifier}`);
  if (server.granted.length === 0) {
    throw new errors.InvalidTarget(`this client may not obtain tokens for ${identifier}: the API's owners or an administrator must grant it first`);
  }
  if (ctx.oidc.params?.['grant_type'] === 'client_credentials') {
    const requested = typeof ctx.oidc.params['scope'] === 'string' ? ctx.oidc.params['scope'].split(' ').filter(Boolean) : [];
    const beyond = requested.filter((scope) => !server.granted.includes(scope));
    if (beyond.length > 0) throw new errors.InvalidScope(`not granted to this client for ${identifier}: ${beyond.join(' ')}`, beyond.join(' '));
  }
  return {
    scope: server.granted.join(' '),
    audience: identifier,
    accessTokenTTL: server.access_token_seconds,
    ...(server.access_token_format === 'jwt' ? { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } } : { accessTokenFormat: 'opaque' }),
  };
}

const accessTokenKinds = new Set(['AccessToken', 'ClientCredentials']);

/**
 * Whether `client` may introspect a token issued to another client because it serves the token's
 * audience: the app registered as the owner of that active API, authenticated by a secret or a key
 * (a public client proves nothing). Refresh tokens are never anyone else's to read.
 */
export async function servesTokenAudience(
  db: Kysely<Database>, ctx: KoaContextWithOIDC, client: Client, token: { kind: string; aud?: unknown; accountId?: string | undefined; clientId?: string | undefined },
): Promise<boolean> {
  if (!accessTokenKinds.has(token.kind) || typeof token.aud !== 'string' || client.clientAuthMethod === 'none') return false;
  if (!(await servesActiveResourceServer(db, token.aud, client.clientId))) return false;
  // oidc-provider looks up the issuing client to answer a person's `sub` and fails when it is gone.
  return !token.accountId || (await ctx.oidc.provider.Client.find(token.clientId ?? '')) !== undefined;
}
