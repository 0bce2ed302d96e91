import type { Kysely } from 'kysely';

import { insertBackchannelLogouts } from '../db/queries/backchannel-logouts.ts';
import { findActiveClient } from '../db/queries/clients.ts';
import { claimDueDeliveries, markDeliveryFailed, markDeliverySent } from '../db/queries/delivery-queues.ts';
import type { BackchannelLogouts, Database } from '../db/schema.ts';
import { deliverOneRound, doublingBackoff } from '../delivery-queue.ts';
import type { BackchannelLogout } from '../domain/users.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { LiveProvider } from './live-provider.ts';
import { sendBackchannelLogout } from './provider.ts';

/**
 * Back-channel logout goes through a queue in the database (backchannel_logouts), whoever ends the
 * session: Mekong ID itself (a disabled person, a password reset, a session ended from the account
 * console), queued in the same transaction, or the person at /session/end, queued by oidc-provider
 * (see installQueuedBackchannelLogout). Any node sends it, retrying an app that is down, and the
 * table keeps each call's outcome.
 */

/** Tried this many times, from 5 s apart doubling to 30 min, over about four hours; then left as failed. */
export const maxBackchannelLogoutAttempts = 12;
/** How long the record of a call made (sent or given up) is kept: long enough for an admin to look into a complaint. */
export const backchannelLogoutRetentionDays = 30;
const limits = { batchSize: 20, leaseSeconds: 60, maxAttempts: maxBackchannelLogoutAttempts };
const backoffSeconds = doublingBackoff(5, 30 * 60);

/**
 * Queues a call for each ended session whose app has a back-channel logout URI; the others are not
 * told. Reads the clients through the caller's transaction: on the embedded database, a single
 * connection, anything else would wait for that transaction to end.
 */
export function createBackchannelLogout(): BackchannelLogout {
  return async (db, accountId, sessions) => {
    const listening = [];
    for (const { clientId, sid } of sessions) {
      const client = await findActiveClient(db, clientId);
      if (client?.metadata.backchannel_logout_uri) listening.push({ clientId, accountId, sid });
    }
    const ids = await insertBackchannelLogouts(db, listening);
    return listening.map((logout, index) => ({ clientId: logout.clientId, deliveryId: ids[index]! }));
  };
}

export interface BackchannelDeliveryDeps {
  readonly db: Kysely<Database>;
  readonly oidc: LiveProvider;
  readonly logger: Logger;
  readonly metrics?: Pick<Metrics, 'backchannelDeliveries'> | undefined;
}

/** Sends one batch of due calls: oidc-provider signs each logout token as it is sent. */
export function deliverDueBackchannelLogouts(deps: BackchannelDeliveryDeps): Promise<{ sent: number; failed: number }> {
  return deliverOneRound<BackchannelLogouts>({
    claim: () => claimDueDeliveries(deps.db, 'backchannel_logouts', limits),
    async send(logout) {
      const provider = deps.oidc.current();
      const client = await provider.Client.find(logout.client_id);
      if (!client?.backchannelLogoutUri) throw new Error('the client is no longer registered, or no longer has a back-channel logout URI');
      await sendBackchannelLogout(provider, client, logout.account_id, logout.sid);
    },
    async markSent(logout) {
      await markDeliverySent(deps.db, 'backchannel_logouts', logout.id);
      deps.metrics?.backchannelDeliveries.inc({ outcome: 'delivered' });
      deps.logger.info({ clientId: logout.client_id, attempts: logout.attempts }, 'back-channel logout delivered');
    },
    markFailed: (logout, error, retryAfterSeconds) => markDeliveryFailed(deps.db, 'backchannel_logouts', logout.id, error, retryAfterSeconds),
    backoffSeconds,
    maxAttempts: maxBackchannelLogoutAttempts,
    onFailure(logout, error) {
      deps.metrics?.backchannelDeliveries.inc({ outcome: 'failed' });
      const final = logout.attempts >= maxBackchannelLogoutAttempts;
      deps.logger.warn({ clientId: logout.client_id, attempts: logout.attempts, err: error },
        final ? 'back-channel logout delivery failed for the last time; giving up' : 'back-channel logout delivery failed; it will be retried');
    },
  });
}
