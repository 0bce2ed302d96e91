import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Context } from 'koa';
import type { Kysely } from 'kysely';

import { findUserById } from '../../db/queries/users.ts';
import type { Database } from '../../db/schema.ts';
import { DpopProofError, dpopSigningAlgorithms, verifyDpopProof } from '../../domain/dpop-proofs.ts';
import type { AdminContext } from '../../domain/authorization.ts';
import { AppError, assertThat } from '../../errors.ts';
import { adminContextOfClient, adminContextOfPerson } from '../admin-context.ts';
import { clientFlag } from '../../oidc/client-flags.ts';
import type { LiveProvider } from '../../oidc/live-provider.ts';
import { apiResourceIndicator, apiScope } from '../../oidc/provider.ts';
import { accountForClientSubject } from '../../oidc/subject-aliases.ts';

export interface ApiAuthenticationDeps {
  readonly db: Kysely<Database>;
  readonly issuer: string;
  readonly oidc: LiveProvider;
}

export const unauthorized = (message: string) => new AppError('unauthorized', message, 401);
const challenge = `Bearer realm="mekong-id", DPoP realm="mekong-id", algs="${dpopSigningAlgorithms.join(' ')}"`;

/**
 * Who is calling the admin API: the bearer token must be a JWT access token that Mekong ID issued
 * for the API resource (RFC 9068: typ at+jwt, our issuer, our audience, the api scope). Its subject
 * is an active person, or, for client_credentials, the service client itself; either way the client
 * must still be active and allowed to call the API. Their roles are read fresh on every request,
 * so a revoked role or a disabled person stops working at once, whatever the token's lifetime.
 *
 * A token bound to a key (DPoP, RFC 9449: its cnf.jkt) comes as `Authorization: DPoP <token>` with
 * a proof made for this request by that key (domain/dpop-proofs.ts); as a bearer token, or with
 * no proof, a stale one, another key's or a replayed one, it is refused.
 */
export function createApiAuthentication(deps: ApiAuthenticationDeps) {
  const audience = apiResourceIndicator(deps.issuer);
  return async function authenticate(ctx: Context): Promise<AdminContext> {
    const claims = await verifyAccessToken(deps, ctx, { audience, forWhat: 'this API' });
    const scopes = typeof claims['scope'] === 'string' ? claims['scope'].split(' ') : [];
    const clientId = claims['client_id'];
    assertThat(scopes.includes(apiScope) && typeof clientId === 'string' && typeof claims.sub === 'string', () => unauthorized('the access token does not carry the api scope'));
    // As the token endpoint reads it: from the client cache, active clients only (oidc/client-cache.ts).
    const client = await deps.oidc.current().Client.find(clientId);
    assertThat(client && clientFlag(client, 'admin_api_access'), () => unauthorized('the client this token was issued to may no longer call the API'));

    if (claims.sub === clientId) return adminContextOfClient(deps.db, client, ctx);
    // The token names the person as its app knows them, which after a directory merge may be an alias.
    const user = await findUserById(deps.db, await accountForClientSubject(deps.db, clientId, claims.sub));
    assertThat(user?.status === 'active', () => unauthorized('the account behind this token is not active'));
    return adminContextOfPerson(deps.db, user, ctx);
  };
}

/**
 * The part of authentication the admin API and SCIM share: an access token in the Authorization
 * header, a JWT that Mekong ID signed for `audience` (RFC 9068), sent with its DPoP proof when it
 * is bound to a key. Returns its claims; what they must grant is the caller's to check.
 */
export async function verifyAccessToken(
  deps: Pick<ApiAuthenticationDeps, 'db' | 'issuer' | 'oidc'>,
  ctx: Context,
  { audience, forWhat }: { audience: string; forWhat: string },
): Promise<JWTPayload> {
  const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]+=*)$/.exec(ctx.get('authorization'));
  if (!match) {
    ctx.set('WWW-Authenticate', challenge);
    throw unauthorized(`send an access token for ${forWhat} in the Authorization header: "Bearer <token>", or "DPoP <token>" with its proof`);
  }
  const [, scheme, token] = match as unknown as [string, 'Bearer' | 'DPoP', string];
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(token, deps.oidc.verificationKeys, {
      issuer: deps.issuer,
      audience,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    }));
  } catch (error) {
    if (!(error instanceof joseErrors.JOSEError)) throw error;
    ctx.set('WWW-Authenticate', 'Bearer realm="mekong-id", error="invalid_token"');
    throw unauthorized(error instanceof joseErrors.JWTExpired ? 'the access token has expired' : `the access token is not valid for ${forWhat}`);
  }
  await checkSenderConstraint(deps, ctx, { scheme, token, cnf: claims['cnf'] });
  return claims;
}

/** A DPoP-bound token needs the DPoP scheme and a valid proof; an unbound one is a bearer token. */
async function checkSenderConstraint(
  deps: Pick<ApiAuthenticationDeps, 'db' | 'issuer'>,
  ctx: Context,
  { scheme, token, cnf }: { scheme: 'Bearer' | 'DPoP'; token: string; cnf: unknown },
): Promise<void> {
  const jkt = typeof cnf === 'object' && cnf !== null && typeof (cnf as { jkt?: unknown }).jkt === 'string' ? (cnf as { jkt: string }).jkt : null;
  const refuse = (error: 'invalid_token' | 'invalid_dpop_proof', message: string) => {
    ctx.set('WWW-Authenticate', `DPoP realm="mekong-id", error="${error}", algs="${dpopSigningAlgorithms.join(' ')}"`);
    return unauthorized(message);
  };
  if (jkt === null) {
    assertThat(scheme === 'Bearer', () => refuse('invalid_token', 'this access token is not bound to a key: send it as "Bearer <token>"'));
    return;
  }
  assertThat(scheme === 'DPoP', () => refuse('invalid_token', 'this access token is bound to a key (DPoP): send it as "DPoP <token>" with a DPoP proof'));
  const proof = ctx.get('dpop');
  assertThat(proof && !proof.includes(','), () => refuse('invalid_dpop_proof', 'send one DPoP proof, made for this request, in the DPoP header'));
  try {
    // The URL as clients name it: the issuer's, whatever address the request reached this node by.
    await verifyDpopProof(deps.db, { proof, method: ctx.method, url: `${deps.issuer}${ctx.path}`, accessToken: token, jkt });
  } catch (error) {
    if (error instanceof DpopProofError) throw refuse('invalid_dpop_proof', error.message);
    throw error;
  }
}
