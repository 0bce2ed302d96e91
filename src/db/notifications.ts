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

/** One listening connection for every channel a process listens on. */
export interface PostgresListener {
  listen(channel: NotificationChannel, onNotification: () => void): Unlisten;
}

/**
 * LISTEN on a connection of its own (a pooled one would be handed to queries), one for every channel
 * this process listens on, opened at the first listener and closed after the last, re-established
 * with backoff whenever PostgreSQL drops it. Notifications sent before a channel was listened to
 * (while the connection was down, or before it first came up) are lost, so each time it starts
 * listening to a channel that channel's listeners are called once anyway: they re-read what they cache.
 */
export function createPostgresListener(url: string, report: (error: Error) => void): PostgresListener {
  const listeners = new Map<NotificationChannel, Set<() => void>>();
  let current: pg.Client | null = null;
  let connecting = false;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;

  const notify = (channel: string) => {
    for (const onNotification of listeners.get(channel as NotificationChannel) ?? []) onNotification();
  };
  // The channel is one of the constants above, never input: safe as an identifier.
  const startListening = async (client: pg.Client, channel: NotificationChannel) => {
    await client.query(`listen ${channel}`);
    notify(channel);
  };

  const reconnectLater = (from: pg.Client) => {
    if (listeners.size === 0 || retry || (current !== null && current !== from)) return;
    current = null;
    failures += 1;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, Math.min(500 * 2 ** (failures - 1), maxReconnectDelayMs));
    retry.unref();
  };

  const connect = async () => {
    if (connecting || current !== null || listeners.size === 0) return;
    connecting = true;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, keepAlive: true });
    client.on('error', (error) => {
      report(error);
      reconnectLater(client);
    });
    client.on('end', () => reconnectLater(client));
    client.on('notification', (message) => notify(message.channel));
    try {
      await client.connect();
      current = client;
      for (const channel of listeners.keys()) await startListening(client, channel);
    } catch (error) {
      report(error as Error);
      current = null;
      await client.end().catch(() => undefined);
      reconnectLater(client);
      return;
    } finally {
      connecting = false;
    }
    if (listeners.size === 0) {
      current = null;
      await client.end().catch(() => undefined);
      return;
    }
    failures = 0;
  };

  return {
    listen(channel, onNotification) {
      let channelListeners = listeners.get(channel);
      const isNewChannel = channelListeners === undefined;
      if (!channelListeners) listeners.set(channel, (channelListeners = new Set()));
      channelListeners.add(onNotification);
      if (current !== null && isNewChannel) {
        startListening(current, channel).catch((error: unknown) => {
          report(error as Error);
          current?.end().catch(() => undefined);
        });
      } else if (current !== null) {
        onNotification();
      } else {
        void connect();
      }
      return async () => {
        channelListeners.delete(onNotification);
        if (channelListeners.size > 0) return;
        listeners.delete(channel);
        if (listeners.size > 0) {
          await current?.query(`unlisten ${channel}`).catch(() => undefined);
          return;
        }
        clearTimeout(retry);
        retry = undefined;
        const client = current;
        current = null;
        await client?.end().catch(() => undefined);
      };
    },
  };
}

/** PGlite has LISTEN and NOTIFY too, within its one process. */
export async function listenOnPglite(pglite: PGlite, channel: NotificationChannel, onNotification: () => void): Promise<Unlisten> {
  const unlisten = await pglite.listen(channel, () => onNotification());
  return () => unlisten();
}
