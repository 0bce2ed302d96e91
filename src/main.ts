import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Config } from './config/index.ts';
import { openDatabase, type DatabaseHandle, type OpenDatabaseOptions } from './db/database.ts';
import { migrateToLatest } from './db/migrator.ts';
import { notificationChannels } from './db/notifications.ts';
import { deleteSettledBackchannelLogouts } from './db/queries/backchannel-logouts.ts';
import { deleteStaleContactChanges } from './db/queries/contact-changes.ts';
import { deleteStaleImportRuns } from './db/queries/import-runs.ts';
import { runExclusively } from './db/queries/job-locks.ts';
import { deleteStaleThrottles } from './db/queries/login-throttle.ts';
import { deleteExpiredPayloads } from './db/queries/oidc-payloads.ts';
import { countActiveUsersWithRole } from './db/queries/role-assignments.ts';
import { retryWhileDatabaseUnavailable } from './db/retry.ts';
import { roles } from './domain/accounts.ts';
import { ensureBuiltInClients } from './domain/built-in-clients.ts';
import { pairWindowSeconds } from './domain/login-throttle.ts';
import { createPasswordHasher, type PasswordHasher } from './domain/passwords.ts';
import { ensureSigningKeys, pruneExpiredKeys } from './domain/signing-keys.ts';
import { pollEvery } from './delivery-queue.ts';
import { runGovernanceJobs } from './governance-jobs.ts';
import { createApp, createStartingApp } from './http/app.ts';
import { createProviderPages } from './http/provider-pages.ts';
import { createViews } from './http/views.ts';
import type { Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { backchannelLogoutRetentionDays, createBackchannelLogout, deliverDueBackchannelLogouts, maxBackchannelLogoutAttempts } from './oidc/backchannel.ts';
import { ClientCache } from './oidc/client-cache.ts';
import { SubjectAliasCache } from './oidc/subject-aliases.ts';
import { createLiveProvider, type LiveProvider } from './oidc/live-provider.ts';
import { createMailSender, deliverDueMail } from './mail/outbox.ts';
import { signingKeyRetentionSeconds } from './oidc/provider.ts';
import { createTextMessageSender } from './sms/sender.ts';

/** Koa's request handler; swapped from the starting app to the full one once the database is reached. */
type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** How often each node looks for back-channel logout calls to send: an app should hear of a logout within a second. */
const backchannelPollIntervalMs = 250;

/** How often each node re-reads the signing keys, besides when told of a change (a pending key's activation is told by no one). */
const keyRefreshIntervalMs = 60_000;

export interface RunningServer {
  readonly url: string;
  readonly database: DatabaseHandle;
  readonly oidc: LiveProvider;
  readonly passwords: PasswordHasher;
  /** Stops accepting, lets in-flight requests finish (up to the deadline), then closes the database. */
  stop(deadlineMs?: number): Promise<void>;
}

export interface StartOptions {
  /** An already open database (tests pass one); otherwise opened from the configuration. */
  database?: DatabaseHandle;
  databaseOptions?: OpenDatabaseOptions;
  host?: string;
  /** Aborting it while the server still waits for its database gives up, closes everything and rejects. */
  signal?: AbortSignal;
}

/**
 * Start-up in order: listen (alive, not ready), reach the database (retrying while it is down),
 * migrations, keys, provider, the full HTTP app, periodic jobs. Resolves once the server is ready.
 */
export async function startServer(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const database =
    options.database ??
    (await openDatabase(config.database, {
      // The message only: pg hangs the whole client (its connection parameters and all) on the error.
      onConnectionError: (error) => logger.warn({ err: error.message }, 'database connection lost; the pool will reconnect'),
      ...options.databaseOptions,
    }));
  const { db } = database;
  let handler: Handler = createStartingApp({ config, db, logger }).callback();
  const server: Server = http.createServer((req, res) => void handler(req, res));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
      server.listen(config.port, options.host);
    });
    const port = (server.address() as AddressInfo).port;

    const views = createViews();
    const passwords = createPasswordHasher(config.argon2);
    const clientCache = new ClientCache();
    const subjectAliasCache = new SubjectAliasCache();
    const metrics = createMetrics({ passwordQueueDepth: () => passwords.queueDepth, databasePool: () => database.poolStats() });
    const { oidc, administrators } = await retryWhileDatabaseUnavailable(
      async () => {
        const applied = await migrateToLatest(db);
        if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations');
        await ensureSigningKeys(db, config.masterKey);
        await ensureBuiltInClients(db, config.issuer);
        return {
          oidc: await createLiveProvider({ config, db, pages: createProviderPages(views), logger, metrics, clientCache, subjectAliasCache }),
          administrators: await countActiveUsersWithRole(db, roles.superAdmin),
        };
      },
      { logger, what: 'starting', signal: options.signal },
    );
    const reloadKeys = () =>
      void oidc.refresh().then(
        (rebuilt) => rebuilt && logger.info('signing keys changed; provider reloaded'),
        (error: unknown) => logger.error({ err: error }, 'reloading signing keys failed'),
      );
    // A rotation on another node or by the CLI reaches this one at once; the periodic check below
    // catches a pending key's activation time arriving, which nobody announces.
    const unlistenKeys = await database.listen(notificationChannels.signingKeys, reloadKeys);
    // A client changed on another node, by the CLI, or by hand: forget them all (see oidc/client-cache.ts).
    const unlistenClients = await database.listen(notificationChannels.clients, () => clientCache.forget());
    // A merge on another node: forget which sub each app knows people by (see oidc/subject-aliases.ts).
    const unlistenSubjects = await database.listen(notificationChannels.subjectAliases, () => subjectAliasCache.forget());
    const backchannelLogout = createBackchannelLogout();
    const sms = createTextMessageSender(config, logger);
    handler = createApp({ config, db, logger, views, passwords, oidc, backchannelLogout, metrics, sms }).callback();

    if (!config.smtpUrl && config.env === 'production') {
      logger.warn('SMTP_URL is unset: activation and reset mails go to DATA_DIR/mail, not to people');
    }
    const mailDelivery = { db, sender: createMailSender(config, logger), masterKey: config.masterKey, issuer: config.issuer, from: config.mail.from, logger };
    // Rows are leased (see claimDueDeliveries), so nodes share the work; one round at a time per node.
    const queues = [
      pollEvery(config.mail.pollSeconds * 1000, () => deliverDueMail(mailDelivery), logger, 'mail delivery'),
      pollEvery(backchannelPollIntervalMs, () => deliverDueBackchannelLogouts({ db, oidc, logger, metrics }), logger, 'back-channel logout delivery'),
    ];
    const jobs = [
      setInterval(() => {
        // One node sweeps at a time; the others skip this round.
        void runExclusively(db, 'cleanup', async (connection) => ({
          payloads: await deleteExpiredPayloads(connection),
          keys: await pruneExpiredKeys(connection, new Date(), signingKeyRetentionSeconds),
          // Counters quiet for a whole window count for nothing any more.
          throttles: await deleteStaleThrottles(connection, new Date(Date.now() - pairWindowSeconds(config.loginThrottle) * 1000)),
          contactChanges: await deleteStaleContactChanges(connection),
          importRuns: await deleteStaleImportRuns(connection),
          backchannelLogouts: await deleteSettledBackchannelLogouts(
            connection, new Date(Date.now() - backchannelLogoutRetentionDays * 24 * 3600 * 1000), maxBackchannelLogoutAttempts,
          ),
        })).then(
          (removed) => removed && Object.values(removed).some((count) => count > 0) && logger.info(removed, 'removed expired artifacts'),
          (error: unknown) => logger.error({ err: error }, 'cleanup of expired artifacts failed'),
        );
      }, config.cleanupIntervalSeconds * 1000),
      setInterval(reloadKeys, keyRefreshIntervalMs),
      setInterval(() => {
        // Decisions, grace periods and the inactivity policy: one node at a time, the others skip this round.
        void runExclusively(db, 'governance', (connection) => runGovernanceJobs({ db: connection, backchannelLogout, config, logger })).catch(
          (error: unknown) => logger.error({ err: error }, 'the governance job failed'),
        );
      }, config.governance.intervalSeconds * 1000),
    ];
    for (const job of jobs) job.unref();

    if (administrators === 0) {
      logger.warn(
        database.kind === 'pglite'
          ? 'no administrator yet: stop the server, then run `npx mekong-id admin create --username admin --password-stdin` (the embedded database allows one process at a time)'
          : 'no administrator yet: run `npx mekong-id admin create --username admin --password-stdin`',
      );
    }

    let stopping: Promise<void> | undefined;
    return {
      url: `http://127.0.0.1:${port}`,
      database,
      oidc,
      passwords,
      stop(deadlineMs = 10_000) {
        stopping ??= (async () => {
          for (const job of jobs) clearInterval(job);
          await Promise.all(queues.map((queue) => queue.stop()));
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeIdleConnections();
          const deadline = setTimeout(() => server.closeAllConnections(), deadlineMs);
          await closed;
          clearTimeout(deadline);
          await unlistenKeys();
          await unlistenClients();
          await unlistenSubjects();
          await database.close();
        })();
        return stopping;
      },
    };
  } catch (error) {
    await new Promise((resolve) => server.close(resolve));
    if (!options.database) await database.close();
    throw error;
  }
}
