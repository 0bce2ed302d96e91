import type { LoadResult, Timing } from '../load/latency.ts';
import { sampleRss, startCpuWindow, waitUntilIdle, type CpuUse, type CpuWindow } from '../processes/usage.ts';

export type { Timing };

/** One row of the report: a scenario or a baseline, as measured. */
export interface Measurement {
  readonly id: string;
  readonly title: string;
  /** What one counted unit is: a request, a whole sign-in, an argon2 verification, an imported row. */
  readonly unit: 'requests' | 'sign-ins' | 'verifications' | 'rows';
  readonly concurrency: number;
  readonly load: LoadResult;
  /** The highest resident memory of the process under test while it ran; null when that is the bench itself. */
  readonly peakRssBytes: number | null;
  /** CPU spent during the measured time: shows whether the cores, rather than something else, were the limit. */
  readonly cpu: CpuUse;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface Observed<T> {
  readonly value: T;
  readonly peakRssBytes: number;
  readonly cpu: CpuUse;
}

/** Once the server is idle, runs `work` while sampling the process's resident memory and counting CPU time. */
export async function observe<T>(pid: number, work: () => Promise<T>): Promise<Observed<T>> {
  await waitUntilIdle(pid);
  const sampler = sampleRss(pid);
  try {
    const cpu = startCpuWindow(pid);
    const value = await work();
    return { value, cpu: cpu.end(), peakRssBytes: sampler.stop() };
  } finally {
    sampler.stop();
  }
}

/**
 * Once the server is idle, runs a load (its warm-up, then its measured time) while sampling the memory of the process under
 * test throughout (the peak is the scenario's) and counting CPU from the end of the warm-up on.
 * `pid` null: the work runs in the bench itself, which has no server to sample.
 */
export async function warmThenMeasure(
  pid: number | null,
  timing: Timing,
  run: (timing: Timing) => Promise<LoadResult>,
): Promise<{ load: LoadResult; peakRssBytes: number | null; cpu: CpuUse }> {
  await waitUntilIdle(pid);
  const sampler = pid === null ? null : sampleRss(pid);
  let cpu: CpuWindow | undefined;
  const warm = setTimeout(() => (cpu = startCpuWindow(pid)), timing.warmupSeconds * 1000);
  try {
    const load = await run(timing);
    return { load, cpu: (cpu ?? startCpuWindow(pid)).end(), peakRssBytes: sampler?.stop() ?? null };
  } finally {
    clearTimeout(warm);
    sampler?.stop();
  }
}
