import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

/**
 * The PostgreSQL NOTIFY channels Mekong ID uses, each sent in the transaction that makes the change
 * (so a rolled-back change tells nobody). A node that caches something derived from the database
 * listens, so that a change made on another node, or by the CLI, reaches it at once.
 */
export const notificationChannels = {
  /** Signing keys were added or removed: every node reloads its provider's keys. */
  signingKeys: 'mekong_id_signing_keys',
  /**
   * A client, or the token exchange allow-list, changed: every node forgets the clients it cached.
   * Sent by triggers (migration 20261201-010), so no writer can forget to.
   */
  clients: 'mekong_id_clients',
  /** A subject alias changed (a directory merge): every node forgets the subjects it cached. Sent by a trigger (migration 20261201-001). */
  subjectAliases: 'mekong_id_subject_aliases',
} as const;

export type NotificationChannel = (typeof notificationChannels)[keyof typeof notificationChannels];

/** Stops listening. */
export type Unlisten = () => Promise<void>;

const maxReconnectDelayMs = 10_000;

/**
 * LISTEN on a connection of its own (a pooled one would be handed to queries), re-established with
 * backoff whenever PostgreSQL drops it. Notifications sent before it listened (while it was down, or
 * before the first connection) are lost, so each time it starts listening `onNotification` is called
 * once anyway: the listener re-reads what it caches.
 */
export function listenOnPostgres(url: string, channel: NotificationChannel, onNotification: () => void, report: (error: Error) => void): Unlisten {
  let current: pg.Client | null = null;
  let closed = false;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;

  const reconnectLater = (from: pg.Client) => {
    if (closed || retry || (current !== null && current !== from)) return;
    current = null;
    failures += 1;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, Math.min(500 * 2 ** (failures - 1), maxReconnectDelayMs));
    retry.unref();
  };

  const connect = async () => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, keepAlive: true });
    client.on('error', (error) => {
      report(error);
      reconnectLater(client);
    });
    client.on('end', () => reconnectLater(client));
    client.on('notification', (message) => {
      if (message.channel === channel) onNotification();
    });
    try {
      await client.connect();
      // The channel is one of the constants above, never input: safe as an identifier.
      await client.query(`listen ${channel}`);
    } catch (error) {
      report(error as Error);
      await client.end().catch(() => undefined);
      reconnectLater(client);
      return;
    }
    if (closed) {
      await client.end().catch(() => undefined);
      return;
    }
    current = client;
    failures = 0;
    onNotification();
  };

  void connect();
  return async () => {
    closed = true;
    clearTimeout(retry);
    const client = current;
    current = null;
    await client?.end().catch(() => undefined);
  };
}

/** PGlite has LISTEN and NOTIFY too, within its one process. */
export async function listenOnPglite(pglite: PGlite, channel: NotificationChannel, onNotification: () => void): Promise<Unlisten> {
  const unlisten = await pglite.listen(channel, () => onNotification());
  return () => unlisten();
}
