import fs from 'node:fs';
import path from 'node:path';

import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import lockfile from 'proper-lockfile';

import type { Config } from '../config/index.ts';
import { PreparingClient } from './prepared-statements.ts';
import { tableWriteCounter } from './table-writes.ts';
import { createPostgresListener, listenOnPglite, type NotificationChannel, type Unlisten } from './notifications.ts';
import type { Database } from './schema.ts';

export type DatabaseTarget = Config['database'];

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly kind: DatabaseTarget['kind'];
  /** The pg pool's connections, for the metrics; null for PGlite, a single connection. */
  poolStats(): { total: number; idle: number; waiting: number } | null;
  /**
   * Calls `onNotification` on every NOTIFY on `channel`, and after a lost listening connection has
   * been re-established (what was sent meanwhile was missed), until the returned function is called.
   */
  listen(channel: NotificationChannel, onNotification: () => void): Promise<Unlisten>;
  close(): Promise<void>;
}

export class DatabaseLockedError extends Error {
  override name = 'DatabaseLockedError';
}

export interface OpenDatabaseOptions {
  /**
   * Told when PostgreSQL drops an idle pooled connection (a restart, a failover, an idle timeout).
   * The pool replaces the connection by itself; without a listener the error would end the process.
   */
  onConnectionError?: (error: Error) => void;
  /** pg pool size; ignored for PGlite, which is a single connection. */
  poolSize?: number;
  /** Load the embedded database from a dump (tests clone a migrated template this way). */
  pgliteLoadDataDir?: Blob;
}

/** The extensions the migrations create; PGlite must have each loaded before `create extension`. */
export const embeddedExtensions = { pg_trgm };

export async function openDatabase(target: DatabaseTarget, options: OpenDatabaseOptions = {}): Promise<DatabaseHandle> {
  if (target.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: target.url,
      max: options.poolSize ?? 10,
      // Unset, a connection attempt to a host that does not answer waits for the kernel (minutes), and
      // every request queued behind it with it; this fails it fast, and the next request tries again.
      connectionTimeoutMillis: 5_000,
      // A server that vanished without closing its sockets (a failover, a dead host) is noticed by TCP
      // keepalive instead of by a query that never returns.
      keepAlive: true,
      // Plans the OIDC adapter's statements once per connection (prepared-statements.ts).
      Client: PreparingClient,
    });
    const report = options.onConnectionError ?? ((error: Error) => console.error(`database connection lost: ${error.message}`));
    // pg reports a connection lost while idle in the pool through the pool, but one lost while checked
    // out between two queries (inside a transaction, or in the moment between checkout and the query)
    // only through the client: without a listener of its own that error ends the process. With it, the
    // client is marked broken, its next query fails, and the pool discards it on release.
    pool.on('connect', (client) => client.on('error', report));
    // The client's listener above has already reported the error; the pool must still be listened to.
    pool.on('error', () => undefined);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [tableWriteCounter] });
    const listener = createPostgresListener(target.url, report);
    return {
      db,
      kind: 'postgres',
      poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
      listen: (channel, onNotification) => Promise.resolve(listener.listen(channel, onNotification)),
      close: () => db.destroy(),
    };
  }
  return openEmbeddedDatabase(target.dataDir, options);
}

/**
 * PGlite is PostgreSQL in this process: two processes opening the same files would corrupt them.
 * A lock on DATA_DIR turns the second opener (say, the CLI while the server runs) into a clear
 * error instead. proper-lockfile refreshes the lock while we live and lets a crashed holder's lock
 * go stale after a few seconds.
 */
async function openEmbeddedDatabase(dataDir: string, options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  fs.mkdirSync(dataDir, { recursive: true });
  const pgdata = path.join(dataDir, 'pgdata');
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dataDir, {
      lockfilePath: path.join(dataDir, 'mekong-id.lock'),
      stale: 10_000,
      onCompromised: (error) => {
        // Someone removed or took over our lock: carrying on risks the files. Stop hard.
        console.error(`DATA_DIR lock lost (${error.message}); exiting to protect the embedded database`);
        process.exit(70);
      },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new DatabaseLockedError(
        `the embedded database in ${dataDir} is in use by another Mekong ID process. ` +
          'Stop that process first, or set DATABASE_URL to use PostgreSQL, which many processes can share. ' +
          '(After a crash the lock clears by itself within 10 seconds.)',
      );
    }
    throw error;
  }

  try {
    const pglite = await PGlite.create({
      dataDir: pgdata,
      extensions: embeddedExtensions,
      ...(options.pgliteLoadDataDir ? { loadDataDir: options.pgliteLoadDataDir } : {}),
    });
    const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }), plugins: [tableWriteCounter] });
    return {
      db,
      kind: 'pglite',
      poolStats: () => null,
      listen: (channel, onNotification) => listenOnPglite(pglite, channel, onNotification),
      async close() {
        await db.destroy();
        await release();
      },
    };
  } catch (error) {
    await release();
    throw error;
  }
}
