import type { Kysely } from 'kysely';
import type Provider from 'oidc-provider';
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';

import { findAliasedAccount, findSubjectAlias } from '../db/queries/directory-merge.ts';
import { isUuid } from '../db/queries/ids.ts';
import { TableCache } from '../db/table-cache.ts';
import type { Database } from '../db/schema.ts';

/**
 * Each app keeps the `sub` it knew across a directory merge (domain/account-merge.ts writes
 * subject_aliases). Inside Mekong ID an account is always its own id: sessions, grants, codes and
 * tokens carry the survivor's id as accountId, because oidc-provider checks that they agree
 * (code against grant at /token, access token against grant at /userinfo), and findAccount needs
 * no alias: a merged-away account is not active, so whatever still names it fails. The alias is
 * applied only where a `sub` leaves for an app, which in oidc-provider 9.13 is exactly where it
 * would apply a pairwise identifier:
 * - ID tokens, logout tokens (back-channel logout, queued or sent) and userinfo, JSON or JWT: all
 *   built by `provider.Claims#result` (lib/helpers/claims.js), for the client they are meant for;
 *   `account.claims()` cannot do it, since lib/helpers/account_claims.js overwrites its `sub`
 *   with the accountId;
 * - JWT access tokens: `formats.customizers.jwt` (jwtAccessTokenSubjects below), by the token's client;
 * - introspection: the response's `sub`, by the token's client (the answer passes through here);
 * - the login prompt's checks of `id_token_hint` and of a requested `sub` (useAppSubjectsInLoginChecks below; the
 *   second is inert while the claims parameter is not enabled, and kept so that enabling it cannot break the promise).
 * Refresh needs nothing more: the refreshed tokens go through the same places.
 */

/** The `sub` this app knows the person by: an alias from a merge, else their id. */
export async function subjectForClient(db: Kysely<Database>, clientId: string, accountId: string, cache?: SubjectAliasCache): Promise<string> {
  // Accounts are uuids; anything else (a client acting as itself) has no alias, and is no uuid to look up.
  if (!isUuid(accountId)) return accountId;
  const load = () => findSubjectAlias(db, clientId, accountId);
  return (await (cache ? cache.find(`${clientId} ${accountId}`, load) : load())) ?? accountId;
}

/**
 * Which `sub` each app knows each person by, kept in memory (db/table-cache.ts): an ID token, a
 * userinfo answer or an introspection would otherwise each pay a round trip for a table that
 * changes only with a merge. "No alias" is kept too (the keys are account ids the provider holds,
 * not a caller's to make up). Migration 20261201-001's trigger announces changes on
 * notificationChannels.subjectAliases. More (app, person) pairs than a province's sign-ins reach in a
 * day make it start over.
 */
export class SubjectAliasCache extends TableCache<string> {
  constructor() {
    super({ tables: ['subject_aliases'], maxEntries: 100_000, keepAbsent: true });
  }
}

/** The account an app's `sub` names (the reverse): for Mekong ID's own resource servers, which read `sub` from tokens. */
export async function accountForClientSubject(db: Kysely<Database>, clientId: string, sub: string): Promise<string> {
  return (await findAliasedAccount(db, clientId, sub)) ?? sub;
}

interface ClaimsInstance {
  client?: { clientId: string };
  result: (this: ClaimsInstance) => Promise<Record<string, unknown>>;
}

export function installSubjectAliases(provider: Provider, db: Kysely<Database>, cache?: SubjectAliasCache): void {
  const prototype = (provider as unknown as { Claims: { prototype: ClaimsInstance } }).Claims.prototype;
  const result = prototype.result;
  prototype.result = async function resultWithAppSubject(this: ClaimsInstance) {
    const claims = await result.call(this);
    if (typeof claims['sub'] === 'string' && this.client) claims['sub'] = await subjectForClient(db, this.client.clientId, claims['sub'], cache);
    return claims;
  };

  provider.use(async (ctx: KoaContextWithOIDC, next: () => Promise<void>) => {
    await next();
    if ((ctx.oidc as KoaContextWithOIDC['oidc'] | undefined)?.route !== 'introspection') return;
    const body = ctx.body as Record<string, unknown> | undefined;
    if (body?.['active'] !== true || typeof body['sub'] !== 'string' || typeof body['client_id'] !== 'string') return;
    body['sub'] = await subjectForClient(db, body['client_id'], body['sub'], cache);
  });
}

/** For `formats.customizers.jwt`: a JWT access token names the person as its client knows them. */
export function jwtAccessTokenSubjects(db: Kysely<Database>, cache?: SubjectAliasCache) {
  return async (_ctx: unknown, token: { accountId?: string; clientId?: string }, jwt: { payload: Record<string, unknown> }): Promise<void> => {
    if (token.accountId && token.clientId && jwt.payload['sub'] === token.accountId) {
      jwt.payload['sub'] = await subjectForClient(db, token.clientId, token.accountId, cache);
    }
  };
}

/**
 * The login prompt's own checks that the signed-in person is the one an app names (by
 * `id_token_hint`, or by a `sub` in the claims parameter), comparing with the `sub` this app knows
 * them by. Same reasons and outcomes as oidc-provider's (lib/helpers/interaction_policy/prompts/login.js).
 */
export function useAppSubjectsInLoginChecks(login: interactionPolicy.Prompt, db: Kysely<Database>): void {
  const { Check } = interactionPolicy;
  const sessionSubject = async (ctx: KoaContextWithOIDC) => {
    const accountId = ctx.oidc.session?.accountId;
    return accountId === undefined ? undefined : subjectForClient(db, ctx.oidc.client!.clientId, accountId);
  };
  const replace = (check: interactionPolicy.Check) => {
    const index = login.checks.findIndex((existing) => existing.reason === check.reason);
    if (index === -1) throw new Error(`oidc-provider's login prompt has no ${check.reason} check any more`);
    login.checks.remove(check.reason);
    login.checks.add(check, index);
  };
  replace(new Check('id_token_hint', 'id_token_hint and authenticated subject do not match', async (ctx: KoaContextWithOIDC) => {
    const hint = ctx.oidc.entities.IdTokenHint as { payload: { sub?: unknown } } | undefined;
    if (hint === undefined) return Check.NO_NEED_TO_PROMPT;
    const sub = await sessionSubject(ctx);
    return sub !== undefined && hint.payload.sub === sub ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }));
  const requestedSub = (ctx: KoaContextWithOIDC) => {
    const member = (ctx.oidc.claims as { id_token?: Record<string, { value?: unknown } | null> }).id_token?.['sub'];
    return member && 'value' in member ? member : undefined;
  };
  replace(new Check('claims_id_token_sub_value', 'requested subject could not be obtained', async (ctx: KoaContextWithOIDC) => {
    const requested = requestedSub(ctx);
    if (requested === undefined) return Check.NO_NEED_TO_PROMPT;
    const sub = await sessionSubject(ctx);
    return sub !== undefined && requested.value === sub ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }, (ctx: KoaContextWithOIDC) => ({ sub: requestedSub(ctx) })));
}
