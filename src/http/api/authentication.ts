import { errors as joseErrors, jwtVerify } from 'jose';
import type { Context } from 'koa';
import type { Kysely } from 'kysely';

import { findActiveClient } from '../../db/queries/clients.ts';
import { scopedAssignmentsOf } from '../../db/queries/role-assignments.ts';
import { findUserById } from '../../db/queries/users.ts';
import type { Database } from '../../db/schema.ts';
import { originOf } from '../../domain/audit.ts';
import type { AdminContext } from '../../domain/authorization.ts';
import { AppError, assertThat } from '../../errors.ts';
import type { LiveProvider } from '../../oidc/live-provider.ts';
import { apiResourceIndicator, apiScope } from '../../oidc/provider.ts';

export interface ApiAuthenticationDeps {
  readonly db: Kysely<Database>;
  readonly issuer: string;
  readonly oidc: LiveProvider;
}

const unauthorized = (message: string) => new AppError('unauthorized', message, 401);

/**
 * Who is calling the admin API: the bearer token must be a JWT access token that Mekong ID issued
 * for the API resource (RFC 9068: typ at+jwt, our issuer, our audience, the api scope). Its subject
 * is an active person, or, for client_credentials, the service client itself; either way the client
 * must still be active and allowed to call the API. Their roles are read fresh on every request,
 * so a revoked role or a disabled person stops working at once, whatever the token's lifetime.
 */
export function createApiAuthentication(deps: ApiAuthenticationDeps) {
  const audience = apiResourceIndicator(deps.issuer);
  return async function authenticate(ctx: Context): Promise<AdminContext> {
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(ctx.get('authorization'));
    if (!match) {
      ctx.set('WWW-Authenticate', 'Bearer realm="mekong-id"');
      throw unauthorized('send an access token for this API in the Authorization header: "Bearer <token>"');
    }
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(match[1]!, deps.oidc.verificationKeys, {
        issuer: deps.issuer,
        audience,
        typ: 'at+jwt',
        algorithms: ['ES256'],
      }));
    } catch (error) {
      if (!(error instanceof joseErrors.JOSEError)) throw error;
      ctx.set('WWW-Authenticate', 'Bearer realm="mekong-id", error="invalid_token"');
      throw unauthorized(error instanceof joseErrors.JWTExpired ? 'the access token has expired' : 'the access token is not valid for this API');
    }
    const scopes = typeof claims['scope'] === 'string' ? claims['scope'].split(' ') : [];
    const clientId = claims['client_id'];
    assertThat(scopes.includes(apiScope) && typeof clientId === 'string' && typeof claims.sub === 'string', () => unauthorized('the access token does not carry the api scope'));
    const client = await findActiveClient(deps.db, clientId);
    assertThat(client?.admin_api_access, () => unauthorized('the client this token was issued to may no longer call the API'));

    const origin = originOf(ctx);
    if (claims.sub === clientId) {
      const holder = { clientId };
      const name = typeof client.metadata['client_name'] === 'string' ? client.metadata['client_name'] : clientId;
      return { principal: { actor: { type: 'client', id: clientId, name }, holder, assignments: await scopedAssignmentsOf(deps.db, holder) }, origin };
    }
    const user = await findUserById(deps.db, claims.sub);
    assertThat(user?.status === 'active', () => unauthorized('the account behind this token is not active'));
    const holder = { userId: user.id };
    return { principal: { actor: { type: 'user', id: user.id, name: user.username }, holder, assignments: await scopedAssignmentsOf(deps.db, holder) }, origin };
  };
}
