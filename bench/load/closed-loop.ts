import { createLatencyRecorder, type LoadResult, type Timing } from './latency.ts';

/**
 * A closed loop for work that is more than one request, or whose next request depends on the last
 * answer: each worker (a person signing in, a rotation chain of refresh tokens) repeats its
 * iteration, one at a time, until the time is up. Concurrency is the number of workers.
 *
 * The warm-up flows straight into the measured window, and an iteration counts when it ends inside
 * the window, with its whole latency: counting only iterations that also began inside it would
 * lose up to one per worker at each edge, which for second-long sign-ins is several percent.
 */
export async function runClosedLoop<W>(workers: readonly W[], window: Timing, iterate: (worker: W) => Promise<void>): Promise<LoadResult> {
  const recorder = createLatencyRecorder();
  const measureFrom = performance.now() + window.warmupSeconds * 1000;
  const deadline = measureFrom + window.durationSeconds * 1000;
  const inWindow = (time: number) => time >= measureFrom && time <= deadline;
  await Promise.all(workers.map(async (worker) => {
    while (performance.now() < deadline) {
      const begun = performance.now();
      try {
        await iterate(worker);
        const ended = performance.now();
        if (inWindow(ended)) recorder.succeeded(ended - begun);
      } catch (error) {
        if (inWindow(performance.now())) recorder.failed(error instanceof Error ? error.message : String(error));
      }
    }
  }));
  return recorder.result(window.durationSeconds);
}
