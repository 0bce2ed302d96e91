import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TableCache } from '../../src/db/table-cache.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

/** A loader that counts how often the cache had to read. */
function counted<Value>(value: Value | undefined) {
  const loader = { reads: 0, load: () => { loader.reads += 1; return Promise.resolve(value); } };
  return loader;
}

describe('TableCache', () => {
  it('keeps "there is none" when told to, and then reads no more', async () => {
    const cache = new TableCache<string>({ tables: ['subject_aliases'], maxEntries: 10, keepAbsent: true });
    const loader = counted<string>(undefined);
    expect(await cache.find('app person', loader.load)).toBeUndefined();
    expect(await cache.find('app person', loader.load)).toBeUndefined();
    expect(loader.reads).toBe(1);
  });

  it('hands every caller the same frozen value: no caller can change what the next one reads', async () => {
    const cache = new TableCache<{ redirect_uris: string[] }>({ tables: ['clients'], maxEntries: 10, keepAbsent: false });
    const loader = counted({ redirect_uris: ['https://app.example/callback'] });
    const first = (await cache.find('app', loader.load))!;
    expect(() => first.redirect_uris.push('https://attacker.example/')).toThrow(TypeError);
    expect(() => { (first as { extra?: boolean }).extra = true; }).toThrow(TypeError);
    expect(await cache.find('app', loader.load)).toEqual({ redirect_uris: ['https://app.example/callback'] });
    expect(loader.reads).toBe(1);
  });

  it('reads "there is none" again each time when not told to keep it', async () => {
    const cache = new TableCache<string>({ tables: ['clients'], maxEntries: 10, keepAbsent: false });
    const loader = counted<string>(undefined);
    await cache.find('made-up id', loader.load);
    await cache.find('made-up id', loader.load);
    expect(loader.reads).toBe(2);
  });

  it('forgets when this process writes one of its tables, and only then', async () => {
    const cache = new TableCache<string>({ tables: ['subject_aliases'], maxEntries: 10, keepAbsent: true });
    const loader = counted('alias');
    await cache.find('key', loader.load);
    await database.db.updateTable('clients').set({ updated_at: sql<Date>`now()` }).where('client_id', '=', 'nobody').execute();
    await cache.find('key', loader.load);
    expect(loader.reads, 'a write to another table changes nothing').toBe(1);
    await database.db.deleteFrom('subject_aliases').where('client_id', '=', 'nobody').execute();
    await cache.find('key', loader.load);
    expect(loader.reads).toBe(2);
  });

  it('starts over rather than grow past its size', async () => {
    const cache = new TableCache<string>({ tables: ['clients'], maxEntries: 2, keepAbsent: false });
    const loader = counted('value');
    for (const key of ['a', 'b', 'c']) await cache.find(key, loader.load);
    await cache.find('a', loader.load);
    expect(loader.reads).toBe(4);
  });
});
