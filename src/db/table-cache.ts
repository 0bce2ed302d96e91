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
 * it may predate the change. Values are copied in and out, so no caller shares one with another.
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
    if (cached !== undefined) return cached === null ? undefined : structuredClone(cached);
    const generation = this.#generation;
    const loaded = await load();
    this.#forgetIfWrittenHere();
    if ((loaded !== undefined || this.#options.keepAbsent) && generation === this.#generation) {
      if (this.#entries.size >= this.#options.maxEntries) this.#entries.clear();
      this.#entries.set(key, loaded === undefined ? null : structuredClone(loaded));
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
