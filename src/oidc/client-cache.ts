import type { AdapterPayload } from 'oidc-provider';

import { TableCache } from '../db/table-cache.ts';

/**
 * The active clients as oidc-provider reads them, kept in memory (db/table-cache.ts): every token,
 * userinfo and introspection request looks its client up, and the row changes perhaps once a month.
 * The triggers of migration 20261201-010 announce every change to the client tables. Only clients
 * that exist are kept, so ids made up by callers cannot fill it; more clients than a province
 * registers make it start over rather than grow.
 */
export class ClientCache extends TableCache<AdapterPayload> {
  constructor() {
    super({ tables: ['clients', 'token_exchange_permissions'], maxEntries: 10_000, keepAbsent: false });
  }
}
