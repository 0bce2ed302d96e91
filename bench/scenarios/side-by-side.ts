import { createLatencyRecorder, type LatencyRecorder, type LoadResult, type Timing } from '../load/latency.ts';
import { sampleRss, startCpuWindow, waitUntilIdle, type CpuUse } from '../processes/usage.ts';

/**
 * A scenario and its baseline measured in turns, a couple of seconds each, over the same minute,
 * rather than one after the other. This machine's speed drifts by up to a third from one half
 * minute to the next (other guests on the host); measured apart, the ratio between two runs moved
 * with that drift (client_credentials: 51% to 63% of bare in identical runs), measured in turns
 * both sides see the same machine.
 */

/** One side of the comparison: the process answering, and a way to load it for a while. */
export interface LoadedSide {
  readonly pid: number;
  /** Loads the process for about `seconds`, recording each answer; answers the seconds it actually ran. */
  run(seconds: number, recorder: LatencyRecorder): Promise<number>;
}

export interface SideResult {
  readonly load: LoadResult;
  readonly peakRssBytes: number;
  readonly cpu: CpuUse;
}

/** How long each turn lasts, about: long enough that its edges (connections opening, requests in flight) are noise. */
export const turnSeconds = 2;

/**
 * The order of the turns: A B, B A, A B… so that a drift in one direction over the run favours
 * neither side.
 */
export function turnOrder(rounds: number): (0 | 1)[] {
  return Array.from({ length: rounds }, (_, round) => (round % 2 === 0 ? [0, 1] as const : [1, 0] as const)).flat();
}

/** CPU over several turns, each weighted by how long it lasted. */
export function meanCpu(turns: readonly { readonly cpu: CpuUse; readonly seconds: number }[]): CpuUse {
  const total = turns.reduce((sum, turn) => sum + turn.seconds, 0);
  const mean = (pick: (cpu: CpuUse) => number) => (total === 0 ? 0 : turns.reduce((sum, turn) => sum + pick(turn.cpu) * turn.seconds, 0) / total);
  const serverKnown = turns.every((turn) => turn.cpu.server !== null);
  const threadsKnown = turns.every((turn) => turn.cpu.serverThreads !== null);
  return {
    server: serverKnown ? mean((cpu) => cpu.server!) : null,
    serverThreads: threadsKnown
      ? { main: mean((cpu) => cpu.serverThreads!.main), v8: mean((cpu) => cpu.serverThreads!.v8), pool: mean((cpu) => cpu.serverThreads!.pool), other: mean((cpu) => cpu.serverThreads!.other) }
      : null,
    postgres: mean((cpu) => cpu.postgres),
    bench: mean((cpu) => cpu.bench),
    other: mean((cpu) => cpu.other),
    steal: mean((cpu) => cpu.steal),
  };
}

/**
 * Warms each side up alone, then loads them in turns for `timing.durationSeconds` each, sampling
 * both processes' memory throughout and counting each side's CPU during its own turns.
 */
export async function measureSideBySide(sides: readonly [LoadedSide, LoadedSide], timing: Timing): Promise<[SideResult, SideResult]> {
  for (const side of sides) await waitUntilIdle(side.pid);
  const samplers = sides.map((side) => sampleRss(side.pid));
  try {
    for (const side of sides) await side.run(timing.warmupSeconds, createLatencyRecorder());
    const rounds = Math.max(1, Math.round(timing.durationSeconds / turnSeconds));
    const each = timing.durationSeconds / rounds;
    const recorders = [createLatencyRecorder(), createLatencyRecorder()];
    const turns: { cpu: CpuUse; seconds: number }[][] = [[], []];
    for (const index of turnOrder(rounds)) {
      const window = startCpuWindow(sides[index].pid);
      const seconds = await sides[index].run(each, recorders[index]!);
      turns[index]!.push({ cpu: window.end(), seconds });
    }
    const result = (index: 0 | 1): SideResult => {
      const seconds = turns[index]!.reduce((sum, turn) => sum + turn.seconds, 0);
      return { load: recorders[index]!.result(seconds), cpu: meanCpu(turns[index]!), peakRssBytes: samplers[index]!.stop() };
    };
    return [result(0), result(1)];
  } finally {
    for (const sampler of samplers) sampler.stop();
  }
}
