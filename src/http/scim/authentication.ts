import type { Context } from 'koa';
import type { Kysely } from 'kysely';

import type { Database } from '../../db/schema.ts';
import type { ScimCaller } from '../../domain/scim/users.ts';
import { assertThat } from '../../errors.ts';
import { clientFlag } from '../../oidc/client-flags.ts';
import type { LiveProvider } from '../../oidc/live-provider.ts';
import { scimResourceIndicator, scimScope } from '../../oidc/provider.ts';
import { adminContextOfClient } from '../admin-context.ts';
import { unauthorized, verifyAccessToken } from '../api/authentication.ts';
import { scimPrefix } from './errors.ts';

export interface ScimAuthenticationDeps {
  readonly db: Kysely<Database>;
  readonly issuer: string;
  readonly oidc: LiveProvider;
}

/**
 * Who is calling SCIM: an app acting as itself. Its access token is a JWT Mekong ID issued by
 * client_credentials for the SCIM resource, with the scim scope, checked (DPoP binding included)
 * exactly as the admin API checks its own. The app must still be active and still allowed SCIM,
 * read fresh on every request, as are its policy (what it sees) and its admin roles (what it may
 * change): a global administrator's "no" works at once, whatever the token's lifetime.
 *
 * SCIM serves apps that synchronize people; a person has the account console and the admin API.
 * The provider issues SCIM tokens by client_credentials only, and a token in a person's name is
 * refused here as well, should one ever come from somewhere else.
 */
export function createScimAuthentication(deps: ScimAuthenticationDeps) {
  const audience = scimResourceIndicator(deps.issuer);
  return async function authenticate(ctx: Context): Promise<ScimCaller> {
    const claims = await verifyAccessToken(deps, ctx, { audience, forWhat: 'SCIM' });
    const scopes = typeof claims['scope'] === 'string' ? claims['scope'].split(' ') : [];
    const clientId = claims['client_id'];
    assertThat(scopes.includes(scimScope) && typeof clientId === 'string', () => unauthorized('the access token does not carry the scim scope'));
    assertThat(claims.sub === clientId, () => unauthorized('SCIM takes an app\'s own token (client_credentials), not a person\'s'));
    // As the token endpoint reads it: from the client cache, active clients only (oidc/client-cache.ts).
    const client = await deps.oidc.current().Client.find(clientId);
    assertThat(client && clientFlag(client, 'scim_access'), () => unauthorized('the app this token was issued to may no longer use SCIM'));
    return {
      audience: { clientId, restricted: clientFlag(client, 'access_restricted') },
      context: await adminContextOfClient(deps.db, client, ctx),
      baseUrl: `${deps.issuer}${scimPrefix}`,
    };
  };
}
