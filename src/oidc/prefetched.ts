import Provider from 'oidc-provider';

import type { StoredPayload } from '../db/queries/oidc-payloads.ts';
import type { AccountUser } from '../db/queries/users.ts';

export const notPrefetched = Symbol('not prefetched');

/**
 * Rows a request's first query read ahead for that request's later steps: userinfo, introspection
 * and refresh each read a token, then the grant it names, then (userinfo and refresh) the person
 * it names; a sign-in's authorization and token requests read a session or a code, then its person.
 * The first query reads them all, in one snapshot and one round trip (adapter.ts).
 *
 * Kept per request (oidc-provider's context for it), each row taken at most once, and dropped when
 * the request itself changes it: nothing read by one request is ever served to another.
 */
export class Prefetched<Row> {
  readonly #byRequest = new WeakMap<object, Map<string, Row | undefined>>();

  keep(id: string, row: Row | undefined): void {
    const ctx = Provider.ctx;
    if (!ctx) return;
    let rows = this.#byRequest.get(ctx);
    if (!rows) this.#byRequest.set(ctx, (rows = new Map<string, Row | undefined>()));
    rows.set(id, row);
  }

  /** The row kept for `id` in this request (undefined if it was absent then), or notPrefetched. */
  take(id: string): Row | undefined | typeof notPrefetched {
    const rows = Provider.ctx && this.#byRequest.get(Provider.ctx);
    if (!rows?.has(id)) return notPrefetched;
    const row = rows.get(id);
    rows.delete(id);
    return row;
  }

  drop(id: string): void {
    const ctx = Provider.ctx;
    if (ctx) this.#byRequest.get(ctx)?.delete(id);
  }
}

/** The grant a token names, for that request's Grant.find. */
export const prefetchedGrants = new Prefetched<StoredPayload>();

/** The person a token, a session or a code names, for that request's findAccount (account.ts). */
export const prefetchedAccounts = new Prefetched<AccountUser>();
