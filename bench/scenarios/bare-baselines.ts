import { openConnections } from '../load/relying-party.ts';
import { startBareProvider } from '../processes/bare-provider.ts';
import type { Measurement, Timing } from './measurement.ts';
import { measureClientCredentials, measureRefresh, refreshConcurrency } from './tokens.ts';

/**
 * The bare oidc-provider's client_credentials and refresh rates, with the requests and concurrency
 * the Mekong ID scenarios use. The provider runs only while it is measured.
 */
export async function measureBareProvider(
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
      measurements.push(await measureClientCredentials(endpoint, { id: 'bare_client_credentials', title: 'baseline: bare oidc-provider (in memory), client_credentials' }, timing));
    }
    if (which.refresh) {
      measurements.push(await measureRefresh(endpoint, connections, [...bare.refreshTokens], { id: 'bare_refresh', title: 'baseline: bare oidc-provider (in memory), refresh with rotation' }, timing));
    }
    return measurements;
  } finally {
    await connections.pool.close();
    await bare.process.stop();
  }
}
