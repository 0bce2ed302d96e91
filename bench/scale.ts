import type { LoadResult } from './load/latency.ts';
import type { Population } from './seed.ts';
import { measureAdminSearch } from './scenarios/admin.ts';
import type { Timing } from './scenarios/measurement.ts';
import { stockTokens } from './scenarios/sign-in.ts';
import { serviceEndpointOf, webEndpointOf, type MekongIdTarget } from './scenarios/target.ts';
import { measureClientCredentials, measureRefresh, refreshConcurrency } from './scenarios/tokens.ts';

/** Search latency and token rates at one data size. */
export interface ScalePoint {
  readonly users: number;
  /** Seconds the generator took to grow the database to this size. */
  readonly seedSeconds: number;
  readonly search: LoadResult;
  readonly clientCredentials: LoadResult;
  readonly refresh: LoadResult;
  readonly peakRssBytes: number;
  /** The most CPU other programs took during one of the three measurements, in percent of one core. */
  readonly otherCpu: number;
}

export interface ScaleDeps {
  readonly target: MekongIdTarget;
  readonly population: Population;
  readonly countUsers: () => Promise<number>;
  readonly progress: (message: string) => void;
}

/**
 * Grows the database to each size in turn (never shrinks it: a size below what is there measures
 * what is there) and measures what a larger province changes: search over more people, and the
 * token endpoint over more rows in every table it reads.
 */
export async function measureScale(deps: ScaleDeps, sizes: readonly number[], timing: Timing): Promise<ScalePoint[]> {
  const { target, population } = deps;
  const points: ScalePoint[] = [];
  for (const size of sizes) {
    deps.progress(`scale: growing the database to ${size.toLocaleString('en')} people`);
    const seedSeconds = await population.growTo(size);
    const users = await deps.countUsers();
    deps.progress(`scale: ${users.toLocaleString('en')} users (grown in ${seedSeconds.toFixed(1)} s); measuring search, client_credentials, refresh`);
    await stockTokens(target, refreshConcurrency * 2);
    const search = await measureAdminSearch(target, timing, users);
    const clientCredentials = await measureClientCredentials(serviceEndpointOf(target), { id: 'client_credentials', title: 'client_credentials' }, timing);
    const refresh = await measureRefresh(webEndpointOf(target), target.connections, target.tokens.refreshTokens, { id: 'refresh', title: 'refresh' }, timing);
    points.push({
      users,
      seedSeconds,
      search: search.load,
      clientCredentials: clientCredentials.load,
      refresh: refresh.load,
      peakRssBytes: Math.max(search.peakRssBytes ?? 0, clientCredentials.peakRssBytes ?? 0, refresh.peakRssBytes ?? 0),
      otherCpu: Math.max(search.cpu.other, clientCredentials.cpu.other, refresh.cpu.other),
    });
  }
  return points;
}
