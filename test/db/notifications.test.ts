import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { createPostgresListener, notificationChannels, type PostgresListener, type Unlisten } from '../../src/db/notifications.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let database: TestDatabase;
/** What the listener reported: a connection PostgreSQL ended, here on purpose. */
let reported: Error[] = [];
let listener: PostgresListener;

beforeAll(async () => {
  database = await createTestDatabase();
  // Its own listener, as database.ts makes one, but one whose reports the test reads instead of failing on them.
  if (database.target.kind === 'postgres') listener = createPostgresListener(database.target.url, (error) => reported.push(error));
});

afterAll(async () => {
  await database.close();
});

const { signingKeys, clients, subjectAliases } = notificationChannels;

/** The server processes holding a LISTEN on this test's database: the listener's connections. */
async function listeningBackends(): Promise<number[]> {
  const { rows } = await sql<{ pid: number }>`
    select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and query like 'listen %'`.execute(database.db);
  return rows.map((row) => row.pid);
}

/** A listener that counts what it was told. */
function counter() {
  const counted = { calls: 0, on: () => { counted.calls += 1; } };
  return counted;
}

describe.runIf(process.env['TEST_DATABASE_URL'])('listening to PostgreSQL', () => {
  it('carries every channel on one connection, and tells each listener of its own channel only', async () => {
    const keys = counter();
    const apps = counter();
    const aliases = counter();
    const unlisten: Unlisten[] = [
      listener.listen(signingKeys, keys.on),
      listener.listen(clients, apps.on),
      listener.listen(subjectAliases, aliases.on),
    ];
    try {
      // Each is told once when its channel is first listened to: what was sent before is lost.
      await vi.waitFor(() => expect([keys.calls, apps.calls, aliases.calls]).toEqual([1, 1, 1]));
      await vi.waitFor(async () => expect(await listeningBackends()).toHaveLength(1));
      await sql`select pg_notify(${clients}, '')`.execute(database.db);
      await vi.waitFor(() => expect(apps.calls).toBe(2));
      expect([keys.calls, aliases.calls]).toEqual([1, 1]);
    } finally {
      for (const stop of unlisten) await stop();
    }
    await vi.waitFor(async () => expect(await listeningBackends()).toEqual([]));
  });

  it('is what a database handle listens with: the server\'s three channels hold one connection', async () => {
    const unlisten = await Promise.all([signingKeys, clients, subjectAliases].map((channel) => database.listen(channel, () => undefined)));
    try {
      await vi.waitFor(async () => expect(await listeningBackends()).toHaveLength(1));
    } finally {
      for (const stop of unlisten) await stop();
    }
    await vi.waitFor(async () => expect(await listeningBackends()).toEqual([]));
  });

  it('comes back when PostgreSQL ends its connection, listens again, and tells every listener once', async () => {
    const keys = counter();
    const apps = counter();
    const unlisten = [listener.listen(signingKeys, keys.on), listener.listen(clients, apps.on)];
    reported = [];
    try {
      await vi.waitFor(async () => expect(await listeningBackends()).toHaveLength(1));
      await vi.waitFor(() => expect([keys.calls, apps.calls]).toEqual([1, 1]));
      const [first] = await listeningBackends();
      await sql`select pg_terminate_backend(${first!})`.execute(database.db);
      await vi.waitFor(() => expect([keys.calls, apps.calls]).toEqual([2, 2]), { timeout: 5_000 });
      expect(reported.map((error) => (error as Error & { code?: string }).code)).toContain('57P01');
      const [second] = await listeningBackends();
      expect(second).toBeDefined();
      expect(second).not.toBe(first);
      // Listening again means notifications arrive again, on the new connection.
      await sql`select pg_notify(${signingKeys}, '')`.execute(database.db);
      await vi.waitFor(() => expect(keys.calls).toBe(3));
    } finally {
      for (const stop of unlisten) await stop();
    }
  });

  it('keeps listening to a channel while one of its listeners remains', async () => {
    const first = counter();
    const second = counter();
    const stopFirst = listener.listen(clients, first.on);
    const stopSecond = listener.listen(clients, second.on);
    try {
      await vi.waitFor(() => expect([first.calls, second.calls]).toEqual([1, 1]));
      await stopFirst();
      await sql`select pg_notify(${clients}, '')`.execute(database.db);
      await vi.waitFor(() => expect(second.calls).toBe(2));
      expect(first.calls).toBe(1);
    } finally {
      await stopSecond();
    }
  });
});
