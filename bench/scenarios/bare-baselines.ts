import { openConnections } from '../load/relying-party.ts';
import { startBareProvider } from '../processes/bare-provider.ts';
import type { Measurement, Timing } from './measurement.ts';
import { serviceEndpointOf, webEndpointOf, type MekongIdTarget } from './target.ts';
import { clientCredentialsSide, measureAgainstBaseline, refreshConcurrency, refreshSide, requestConcurrency } from './tokens.ts';

/**
 * The scenarios held against a bare oidc-provider (client_credentials, refresh), each measured in
 * turns with its baseline (side-by-side.ts), with the same requests and the same concurrency. The
 * bare provider runs only while they are measured; each side idles during the other's turns.
 */
export async function measureAgainstBareProvider(
  target: MekongIdTarget,
  timing: Timing,
  which: { readonly clientCredentials: boolean; readonly refresh: boolean },
  logFile: string,
): Promise<Measurement[]> {
  // Enough chains for the warm-up and the run, and spares for chains that break.
  const bare = await startBareProvider(refreshConcurrency * 2, logFile);
  const connections = openConnections(bare.issuer, refreshConcurrency);
  try {
    const endpoint = { origin: bare.issuer, pid: bare.process.pid, clientId: bare.clientId, clientSecret: bare.clientSecret, apiResource: bare.apiResource };
    const measurements: Measurement[] = [];
    if (which.clientCredentials) {
      const baseline = { id: 'bare_client_credentials', title: 'baseline: bare oidc-provider (in memory), client_credentials' };
      const scenario = { id: 'client_credentials', title: 'client_credentials (service client, JWT for the admin API)' };
      measurements.push(...await measureAgainstBaseline(
        { side: await clientCredentialsSide(endpoint, baseline), labels: baseline },
        { side: await clientCredentialsSide(serviceEndpointOf(target), scenario), labels: scenario },
        requestConcurrency,
        timing,
      ));
    }
    if (which.refresh) {
      const baseline = { id: 'bare_refresh', title: 'baseline: bare oidc-provider (in memory), refresh with rotation' };
      const scenario = { id: 'refresh', title: 'refresh with rotation (web client, ID token included)' };
      measurements.push(...await measureAgainstBaseline(
        { side: refreshSide(endpoint, connections, [...bare.refreshTokens], baseline), labels: baseline },
        { side: refreshSide(webEndpointOf(target), target.connections, target.tokens.refreshTokens, scenario), labels: scenario },
        refreshConcurrency,
        timing,
      ));
    }
    return measurements;
  } finally {
    await connections.pool.close();
    await bare.process.stop();
  }
}
