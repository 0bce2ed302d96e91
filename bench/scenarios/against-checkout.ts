import path from 'node:path';

import { createBenchDatabase } from '../bench-database.ts';
import { freePort } from '../processes/child.ts';
import { againstIds } from '../report.ts';
import { buildAsNpmStartDoes, createClientWithCli, productionEnvironment, startMekongId } from '../processes/mekong-id.ts';
import type { Measurement, Timing } from './measurement.ts';
import { serviceEndpointOf, type MekongIdTarget } from './target.ts';
import { clientCredentialsSide, measureAgainstBaseline, requestConcurrency } from './tokens.ts';

/**
 * client_credentials on this checkout's server against another checkout's, in turns (side-by-side.ts),
 * each with its own start script (its node options too) and its own database: an older checkout's
 * migrations would refuse a database migrated further. client_credentials needs no data, only a
 * service client, registered with the other checkout's own command line. What the rows show is what
 * a change bought, by the server's CPU per request as much as by the rate.
 */
export async function measureAgainstCheckout(
  checkout: string,
  target: MekongIdTarget,
  options: Timing & { readonly databaseUrl: string },
  context: { readonly logFile: string; readonly progress: (message: string) => void; readonly undo: (step: () => Promise<void>) => void },
): Promise<Measurement[]> {
  const database = await createBenchDatabase(options.databaseUrl);
  context.undo(() => database.drop());
  const built = await buildAsNpmStartDoes(checkout);
  if (built > 0) context.progress(`built ${checkout} as its npm start does in ${built.toFixed(1)} s`);
  const env = productionEnvironment(database.url, await freePort());
  const other = await startMekongId({ env, logFile: context.logFile, checkout });
  try {
    context.progress(`${checkout} (its own start script) is ready at ${other.issuer}, pid ${other.process.pid}; its log: ${path.relative(process.cwd(), context.logFile)}`);
    const service = await createClientWithCli(env, ['--name', 'Tự động hóa quản trị (đo tải)', '--service', '--role', 'super_admin'], checkout);
    const otherEndpoint = { origin: other.issuer, pid: other.process.pid, clientId: service.client_id, clientSecret: service.client_secret, apiResource: `${other.issuer}/api/v1` };
    const labels = {
      other: { id: againstIds.other, title: `client_credentials on ${checkout}` },
      ours: { id: againstIds.ours, title: 'client_credentials on this checkout, against --against' },
    };
    return await measureAgainstBaseline(
      { side: await clientCredentialsSide(otherEndpoint, labels.other), labels: labels.other },
      { side: await clientCredentialsSide(serviceEndpointOf(target), labels.ours), labels: labels.ours },
      requestConcurrency,
      options,
    );
  } finally {
    // Stopped as soon as it is measured, or failed: its database goes at the end, with the run's.
    await other.process.stop();
  }
}
