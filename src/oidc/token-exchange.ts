import type { Kysely } from 'kysely';
import type Provider from 'oidc-provider';
import { errors, type AccessToken, type FindAccount, type KoaContextWithOIDC, type TokenEndpointGrantContext } from 'oidc-provider';

import { findTokenExchangePermission } from '../db/queries/token-exchange-permissions.ts';
import type { Database } from '../db/schema.ts';
import { originOf, recordAuditEvent } from '../domain/audit.ts';
import type { Logger } from '../logger.ts';

export const tokenExchangeGrantType = 'urn:ietf:params:oauth:grant-type:token-exchange';
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';
const parameters = ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'resource', 'scope', 'actor_token', 'actor_token_type'];

/** An exchanged token lives this long at most, and never past the token it was exchanged for. */
export const exchangedTokenSeconds = 5 * 60;

interface TokenExchangeParams {
  subject_token?: string;
  subject_token_type?: string;
  requested_token_type?: string;
  audience?: string;
  resource?: string;
  actor_token?: string;
}

export interface TokenExchangeDeps {
  readonly db: Kysely<Database>;
  readonly logger: Logger;
  readonly findAccount: FindAccount;
}

/**
 * Token exchange (RFC 8693), profiled narrowly: an app holding a person's access token (opaque,
 * issued to that very app, not sender-constrained) trades it for a short-lived JWT access token
 * aimed at one other app's API. The allow-list (token_exchange_permissions) names which app may
 * do so towards which audience, and with which scopes at most; a pair not on it is refused, and
 * both outcomes are audited. The new token names the person as `sub` and the app as `act.sub`,
 * so the API sees who acts for whom. Exchanged tokens are JWTs, which oidc-provider never stores,
 * so they cannot be exchanged again.
 */
export function installTokenExchange(provider: Provider, deps: TokenExchangeDeps): void {
  provider.registerGrantType<TokenExchangeParams>(tokenExchangeGrantType, async (ctx) => {
    const { client, params } = ctx.oidc;
    if (params.subject_token_type !== accessTokenType || !params.subject_token) {
      throw new errors.InvalidRequest(`send the person's access token as subject_token, with subject_token_type ${accessTokenType}`);
    }
    if (params.requested_token_type !== undefined && params.requested_token_type !== accessTokenType) {
      throw new errors.InvalidRequest(`only ${accessTokenType} can be requested`);
    }
    if (params.actor_token !== undefined) throw new errors.InvalidRequest('actor_token is not supported: the authenticated client is the actor');
    const audience = params.audience ?? params.resource;
    if (!audience || (params.audience !== undefined && params.resource !== undefined && params.audience !== params.resource)) {
      throw new errors.InvalidTarget('name the API the token is for, once, as audience or resource');
    }
    // Mekong ID's own APIs (the admin API) take tokens only from a person's own sign-in to an app
    // allowed to call them, never one app acting for a person: whatever the allow-list says.
    if (URL.canParse(audience) && new URL(audience).origin === new URL(ctx.oidc.issuer).origin) {
      throw new errors.InvalidTarget('Mekong ID\'s own APIs are not an audience for token exchange');
    }

    const subject = await provider.AccessToken.find(params.subject_token);
    if (!subject || subject.clientId !== client.clientId) throw new errors.InvalidGrant('subject_token is not an active access token issued to this client');
    if (subject.isSenderConstrained()) throw new errors.InvalidGrant('a sender-constrained subject_token cannot be exchanged');
    const account = subject.accountId ? await deps.findAccount(ctx, subject.accountId, subject) : undefined;
    if (!account) throw new errors.InvalidGrant('the person behind subject_token is no longer active');

    const permission = await findTokenExchangePermission(deps.db, client.clientId, audience);
    if (!permission) {
      await audit(ctx, deps, { outcome: 'denied', accountId: account.accountId, audience, scope: null });
      throw new errors.InvalidTarget('this client may not exchange tokens for that audience');
    }
    const allowed = permission.scope.split(' ');
    const requested = params.scope ? params.scope.split(' ') : allowed;
    const beyond = requested.filter((scope) => !allowed.includes(scope));
    if (beyond.length > 0) throw new errors.InvalidScope(`not allowed for this audience: ${beyond.join(' ')}`, beyond.join(' '));

    const token = new provider.AccessToken({
      accountId: account.accountId,
      client,
      grantId: subject.grantId,
      gty: 'token_exchange',
      scope: requested.join(' '),
      ...(subject.sessionUid ? { sessionUid: subject.sessionUid } : {}),
      ...(subject.expiresWithSession !== undefined ? { expiresWithSession: subject.expiresWithSession } : {}),
    });
    token.resourceServer = new provider.ResourceServer(audience, {
      audience,
      scope: permission.scope,
      accessTokenFormat: 'jwt',
      accessTokenTTL: Math.max(1, Math.min(exchangedTokenSeconds, subject.remainingTTL)),
      jwt: { sign: { alg: 'ES256' } },
    });
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    await audit(ctx, deps, { outcome: 'success', accountId: account.accountId, audience, scope: token.scope ?? null });
    ctx.body = { access_token: value, issued_token_type: accessTokenType, token_type: 'Bearer', expires_in: token.expiration, scope: token.scope };
  }, parameters);
}

/** The `act` claim (RFC 8693 §4.1) of a token issued by exchange: the client acting for the person. */
export function exchangedTokenClaims(ctx: KoaContextWithOIDC | undefined, token: AccessToken | { kind: string }): Record<string, unknown> | undefined {
  if (!ctx || ctx.oidc.params?.['grant_type'] !== tokenExchangeGrantType || token.kind !== 'AccessToken') return undefined;
  return { act: { sub: ctx.oidc.client?.clientId } };
}

async function audit(
  ctx: TokenEndpointGrantContext<TokenExchangeParams>,
  deps: TokenExchangeDeps,
  event: { outcome: 'success' | 'denied'; accountId: string; audience: string; scope: string | null },
): Promise<void> {
  const { client } = ctx.oidc;
  await recordAuditEvent(deps.db, {
    actor: { type: 'client', id: client.clientId, name: client.clientName ?? null },
    origin: originOf(ctx),
    action: 'token.exchange',
    outcome: event.outcome,
    target: { type: 'user', id: event.accountId },
    details: { audience: event.audience, scope: event.scope },
  });
}
