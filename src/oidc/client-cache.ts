import type { AdapterPayload } from 'oidc-provider';

import { tableWriteCount, type CachedTable } from '../db/table-writes.ts';

/** More clients than a province registers; past it the cache starts over rather than grow. */
const maxEntries = 10_000;

/**
 * The active clients as oidc-provider reads them, kept in memory: every token, userinfo and
 * introspection request looks its client up, and the row changes perhaps once a month. The cache
 * forgets everything when any client changes:
 * - on this node, at once, when this process writes a client table (db/table-writes.ts);
 * - on every node, when the database announces a change (`forget`, called for the NOTIFY that
 *   migration 20261201-010's triggers send, and after the listening connection was lost).
 * Only clients that exist are kept, so ids made up by callers cannot fill it. A lookup that was
 * already reading when the cache was told to forget does not store what it read: it may predate the change.
 */
const clientTables: readonly CachedTable[] = ['clients', 'token_exchange_permissions'];

export class ClientCache {
  readonly #entries = new Map<string, AdapterPayload>();
  #generation = 0;
  #writesSeen = tableWriteCount(clientTables);

  async find(clientId: string, load: () => Promise<AdapterPayload | undefined>): Promise<AdapterPayload | undefined> {
    this.#forgetIfWrittenHere();
    const cached = this.#entries.get(clientId);
    // A copy: oidc-provider builds its Client from the object it is given, which must not share
    // arrays with the next request's.
    if (cached) return structuredClone(cached);
    const generation = this.#generation;
    const loaded = await load();
    this.#forgetIfWrittenHere();
    if (loaded && generation === this.#generation) {
      if (this.#entries.size >= maxEntries) this.#entries.clear();
      this.#entries.set(clientId, structuredClone(loaded));
    }
    return loaded;
  }

  forget(): void {
    this.#generation += 1;
    this.#entries.clear();
  }

  #forgetIfWrittenHere(): void {
    const writes = tableWriteCount(clientTables);
    if (writes === this.#writesSeen) return;
    this.#writesSeen = writes;
    this.forget();
  }
}
