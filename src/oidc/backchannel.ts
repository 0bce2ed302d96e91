import type { BackchannelLogout } from '../domain/users.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { LiveProvider } from './live-provider.ts';

/** oidc-provider's own method (lib/models/client.js), which its end-session action uses; @types omits it. */
interface SendsBackchannelLogout {
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

/**
 * Back-channel logout for sessions that Mekong ID itself ended (a disabled or suspended person),
 * rather than the person at /session/end. oidc-provider signs and sends the logout token; a client
 * that is gone or has no back-channel URI is skipped. Deliveries run in parallel and never throw:
 * the caller records the outcome of each.
 */
export function createBackchannelLogout(oidc: LiveProvider, logger: Logger, metrics?: Pick<Metrics, 'backchannelDeliveries'>): BackchannelLogout {
  return async (accountId, sessions) => {
    const provider = oidc.current();
    const results = await Promise.all(
      sessions.map(async ({ clientId, sid }) => {
        const client = await provider.Client.find(clientId);
        if (!client?.backchannelLogoutUri) return null;
        try {
          await (client as unknown as SendsBackchannelLogout).backchannelLogout(accountId, sid);
          metrics?.backchannelDeliveries.inc({ outcome: 'delivered' });
          return { clientId, delivered: true };
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          metrics?.backchannelDeliveries.inc({ outcome: 'failed' });
          logger.warn({ clientId, err: message }, 'back-channel logout delivery failed');
          return { clientId, delivered: false, error: message };
        }
      }),
    );
    return results.filter((result) => result !== null);
  };
}
