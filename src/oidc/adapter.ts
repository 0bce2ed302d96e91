import type { Kysely } from 'kysely';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';

import { findNulCharacter } from '../db/nul-characters.ts';
import { findClientForProvider } from '../db/queries/clients.ts';
import {
  consumePayload,
  destroyPayload,
  destroyPayloadsOfGrant,
  findPayload,
  findTokensWithGrant,
  insertPayloadIfAbsent,
  upsertPayload,
  type FoundPayload,
  type FoundToken,
  type StoredPayload,
} from '../db/queries/oidc-payloads.ts';
import type { Database } from '../db/schema.ts';
import type { ClientCache } from './client-cache.ts';
import { notPrefetched, prefetchedAccounts, prefetchedGrants } from './prefetched.ts';
import { tokenExchangeGrantType } from './token-exchange.ts';

export type AdapterConstructor = new (model: string) => Adapter;

interface TokenLookup {
  readonly found: Promise<Map<string, FoundToken>>;
  /** How many finds of each model awaited it: once it settled, no more join. */
  readonly finds: Map<string, number>;
}

/**
 * What happens when oidc-provider itself writes a client: only dynamic registration (/reg, RFC 7591
 * and 7592) does, and oidc/provider.ts decides what that means for the clients table.
 */
export interface RegisteredClientStore {
  save(payload: AdapterPayload & { client_id: string }): Promise<void>;
  remove(clientId: string): Promise<void>;
  /** A pending client is unknown to the provider, except while its registration is being managed at /reg. */
  pendingVisible(): boolean;
}

/**
 * PostgreSQL text cannot hold U+0000 (see findNulCharacter), so no stored id has one. Ids to look up
 * come from clients (client_id, tokens, codes): one with a NUL is simply not found, where the query
 * would fail as a server error.
 */
const mayBeStored = (id: string) => !id.includes('\u0000');

/**
 * A device code that ran out is found until the sweep removes it, so that oidc-provider can say so:
 * the device is told expired_token (RFC 8628 §3.5) and the person "this code has expired", not
 * "unknown code". oidc-provider checks every artifact's expiry itself, so nothing expired is honoured.
 */
const expiredStaysVisible = new Set(['DeviceCode']);

/**
 * The models a presented token may belong to. Introspection and revocation look a token up in all
 * three at once; one query answers all three (see findToken below).
 */
const tokenModels: readonly string[] = ['AccessToken', 'ClientCredentials', 'RefreshToken'];

/** The person a session, code or token names, read with it: kept for this request's findAccount (prefetched.ts). */
function keepAccount<Found extends FoundPayload>(found: Found | undefined): Found | undefined {
  const accountId = found?.payload['accountId'];
  if (found && typeof accountId === 'string') prefetchedAccounts.keep(accountId, found.account);
  return found;
}

/**
 * oidc-provider's storage: one class per model name, all backed by one table. Clients are the
 * exception: they are read from the clients table, which the CLI, the admin API, the developer
 * portal and /reg write, and a client that is not active (pending, rejected, disabled) reads as absent.
 * With a cache (the server's), active clients are read from memory (see client-cache.ts).
 */
export function createKyselyAdapter(db: Kysely<Database>, registered: RegisteredClientStore, clients?: ClientCache): AdapterConstructor {
  const findClient = (id: string): Promise<AdapterPayload | undefined> => {
    // While a registration is being managed at /reg its pending client is visible: read, never cached.
    if (registered.pendingVisible()) return findClientMetadata(db, id, true);
    const load = () => findClientMetadata(db, id, false);
    return clients ? clients.find(id, load) : load();
  };
  // Lookups of one token value under way, shared by the finds that arrive while it runs. Only while
  // it runs: a find that starts after it settled reads again, so nothing older than a request is served.
  const tokenLookups = new Map<string, TokenLookup>();
  const findToken = async (model: string, id: string): Promise<StoredPayload | undefined> => {
    let lookup = tokenLookups.get(id);
    if (!lookup) {
      lookup = { found: findTokensWithGrant(db, tokenModels, id).finally(() => tokenLookups.delete(id)), finds: new Map() };
      tokenLookups.set(id, lookup);
    }
    lookup.finds.set(model, (lookup.finds.get(model) ?? 0) + 1);
    const found = (await lookup.found).get(model);
    if (!found) return undefined;
    // Kept for this request's next steps (prefetched.ts): the grant's find, and the account's.
    const grantId = found.payload['grantId'];
    if (typeof grantId === 'string') prefetchedGrants.keep(grantId, found.grant);
    keepAccount(found);
    // Finds of one model that shared the lookup (two requests racing for one refresh token) must not
    // share what oidc-provider does to the payload: each gets a copy. The count is final here, since
    // nobody joins a settled lookup. A find alone of its model keeps the payload as read, without a
    // structuredClone: nearly every find, introspection's too, whose three finds (one per model)
    // share a lookup but never a payload.
    return { payload: lookup.finds.get(model)! > 1 ? structuredClone(found.payload) : found.payload, consumedAt: found.consumedAt };
  };

  return class KyselyAdapter implements Adapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      if (this.model === 'Client') {
        await registered.save({ ...payload, client_id: id });
        return;
      }
      // Payloads carry request parameters (an interaction's, a pushed request's): one with a NUL cannot
      // be stored, and that is the request's fault, answered as the protocol's invalid_request.
      if (findNulCharacter(payload, 'payload') !== null) {
        throw new errors.InvalidRequest('request parameters cannot contain the NUL character (U+0000)');
      }
      if (this.model === 'Grant') prefetchedGrants.drop(id);
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
      // The jti of a client assertion or a DPoP proof, seen once. oidc-provider looks the id up and
      // then saves it, two steps that concurrent requests replaying one JWT could both pass: the
      // insert decides, and the loser is refused like the replay it is.
      if (this.model === 'ReplayDetection') {
        if (!(await insertPayloadIfAbsent(db, { model: this.model, id, payload, expiresAt }))) {
          throw new errors.InvalidRequest('this JWT was already used: its jti was seen before');
        }
        return;
      }
      await upsertPayload(db, {
        model: this.model,
        id,
        payload: payload,
        grantId: payload.grantId ?? null,
        userCode: payload.userCode ?? null,
        uid: payload.uid ?? null,
        accountId: payload.accountId ?? null,
        expiresAt,
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (!mayBeStored(id)) return undefined;
      if (this.model === 'Client') return findClient(id);
      if (tokenModels.includes(this.model)) return toAdapterPayload(await findToken(this.model, id));
      if (this.model === 'Grant') {
        const prefetched = prefetchedGrants.take(id);
        if (prefetched !== notPrefetched) return toAdapterPayload(prefetched);
      }
      return toAdapterPayload(keepAccount(await findPayload(db, { model: this.model, id }, { includeExpired: expiredStaysVisible.has(this.model) })));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      if (!mayBeStored(uid)) return undefined;
      return toAdapterPayload(keepAccount(await findPayload(db, { model: this.model, uid })));
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      if (!mayBeStored(userCode)) return undefined;
      return toAdapterPayload(keepAccount(await findPayload(db, { model: this.model, userCode }, { includeExpired: expiredStaysVisible.has(this.model) })));
    }

    /**
     * oidc-provider checks `consumed` and then consumes, two steps that concurrent requests can both
     * pass. The conditional update decides the race; the loser is a replay, so like oidc-provider's
     * own reuse detection it revokes the whole grant and fails the request.
     */
    async consume(id: string): Promise<void> {
      const result = await consumePayload(db, this.model, id);
      if (result.consumed) return;
      if (result.grantId) {
        prefetchedGrants.drop(result.grantId);
        await destroyPayloadsOfGrant(db, result.grantId);
        await destroyPayload(db, 'Grant', result.grantId);
      }
      // Speak the error of the endpoint that consumes: a pushed request is spent at /auth, the rest at /token.
      throw this.model === 'PushedAuthorizationRequest'
        ? new errors.InvalidRequestUri('request_uri is invalid, expired, or was already used')
        : new errors.InvalidGrant(`${this.model} already used`);
    }

    async destroy(id: string): Promise<void> {
      if (!mayBeStored(id)) return;
      if (this.model === 'Client') {
        await registered.remove(id);
        return;
      }
      if (this.model === 'Grant') prefetchedGrants.drop(id);
      await destroyPayload(db, this.model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      prefetchedGrants.drop(grantId);
      await destroyPayloadsOfGrant(db, grantId);
    }
  };
}

function toAdapterPayload(stored: StoredPayload | undefined): AdapterPayload | undefined {
  if (!stored) return undefined;
  return stored.consumedAt ? { ...stored.payload, consumed: Math.floor(stored.consumedAt.getTime() / 1000) } : stored.payload;
}

/**
 * The stored secret is a SHA-256 hash; oidc-provider compares it through the override in
 * provider.ts. `first_party` (for the consent step), `admin_api_access` (for the API resource)
 * `mfa_required` (for the second-factor policy) and `access_restricted` (for app access) ride
 * along as extra client metadata. A client the token exchange allow-list names may use that grant:
 * the list is the one place that says so. Likewise a client allowed SCIM (`scim_access`) may use
 * client_credentials, the grant that obtains SCIM tokens, whatever kind of app it was registered as.
 */
async function findClientMetadata(db: Kysely<Database>, clientId: string, includePending: boolean): Promise<AdapterPayload | undefined> {
  const client = await findClientForProvider(db, clientId, { includePending });
  if (!client) return undefined;
  const grantTypes = Array.isArray(client.metadata['grant_types']) ? (client.metadata['grant_types'] as string[]) : undefined;
  return {
    ...client.metadata,
    ...(grantTypes ? { grant_types: grantTypesOf(client, grantTypes) } : {}),
    ...(client.client_secret_hash ? { client_secret: client.client_secret_hash } : {}),
    first_party: client.first_party,
    admin_api_access: client.admin_api_access,
    mfa_required: client.mfa_required,
    access_restricted: client.access_policy === 'restricted',
    scim_access: client.scim_access,
  };
}

function grantTypesOf(client: { may_exchange_tokens: boolean; scim_access: boolean }, registered: readonly string[]): string[] {
  const grantTypes = new Set(registered);
  if (client.may_exchange_tokens) grantTypes.add(tokenExchangeGrantType);
  if (client.scim_access) grantTypes.add('client_credentials');
  return [...grantTypes];
}
