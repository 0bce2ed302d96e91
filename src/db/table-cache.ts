import { tableWriteCount, type CachedTable } from './table-writes.ts';

export interface TableCacheOptions {
  /** The tables what is cached is read from: a write to any of them by this process forgets everything. */
  readonly tables: readonly CachedTable[];
  /** Past this many entries the cache starts over rather than grow. */
  readonly maxEntries: number;
  /** Whether "there is none" is kept too: only where the keys are not the caller's to make up. */
  readonly keepAbsent: boolean;
}

/**
 * Rows that change rarely and are read on every request, kept in memory on each node. The cache
 * forgets everything when what it was read from changes:
 * - on this node, at once, when this process writes one of its tables (db/table-writes.ts);
 * - on every node, when the database announces a change: the owner calls `forget` for the NOTIFY
 *   the tables' triggers send, and after the listening connection was lost.
 * A lookup that was already reading when the cache was told to forget does not store what it read:
 * it may predate the change. Values are frozen, all the way down, before they are kept: callers share
 * them, and none can change what another will be handed (copying each one out cost a client lookup
 * more than the lookup itself).
 */
export class TableCache<Value> {
  readonly #options: TableCacheOptions;
  readonly #entries = new Map<string, Value | null>();
  #generation = 0;
  #writesSeen: number;

  constructor(options: TableCacheOptions) {
    this.#options = options;
    this.#writesSeen = tableWriteCount(options.tables);
  }

  async find(key: string, load: () => Promise<Value | undefined>): Promise<Value | undefined> {
    this.#forgetIfWrittenHere();
    const cached = this.#entries.get(key);
    if (cached !== undefined) return cached === null ? undefined : cached;
    const generation = this.#generation;
    const loaded = await load();
    if (loaded !== undefined) deepFreeze(loaded);
    this.#forgetIfWrittenHere();
    if ((loaded !== undefined || this.#options.keepAbsent) && generation === this.#generation) {
      if (this.#entries.size >= this.#options.maxEntries) this.#entries.clear();
      this.#entries.set(key, loaded ?? null);
    }
    return loaded;
  }

  forget(): void {
    this.#generation += 1;
    this.#entries.clear();
  }

  #forgetIfWrittenHere(): void {
    const writes = tableWriteCount(this.#options.tables);
    if (writes === this.#writesSeen) return;
    this.#writesSeen = writes;
    this.forget();
  }
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const member of Object.values(value)) deepFreeze(member);
}
