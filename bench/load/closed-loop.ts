import { createLatencyRecorder, type LatencyRecorder, type LoadResult, type Timing } from './latency.ts';

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
  await iterateUntil(workers, deadline, iterate, (begun, ended, failure) => {
    if (!inWindow(ended)) return;
    if (failure === undefined) recorder.succeeded(ended - begun);
    else recorder.failed(failure);
  });
  return recorder.result(window.durationSeconds);
}

/**
 * One turn of a closed loop beside another (scenarios/side-by-side.ts): the workers begin
 * iterations for `seconds`, and each one begun counts when it ends. Answers the seconds until the
 * last one ended, so that the iterations in flight at the end neither lower the rate (as a fixed
 * window would) nor carry over into the other side's turn.
 */
export async function runClosedLoopTurn<W>(
  workers: readonly W[], seconds: number, iterate: (worker: W) => Promise<void>, recorder: LatencyRecorder,
): Promise<number> {
  const started = performance.now();
  await iterateUntil(workers, started + seconds * 1000, iterate, (begun, ended, failure) => {
    if (failure === undefined) recorder.succeeded(ended - begun);
    else recorder.failed(failure);
  });
  return (performance.now() - started) / 1000;
}

/** Each worker repeats its iteration, one at a time, until `deadline`; `ended` hears of each one, with the failure's message if it failed. */
async function iterateUntil<W>(
  workers: readonly W[], deadline: number, iterate: (worker: W) => Promise<void>, ended: (begun: number, ended: number, failure?: string) => void,
): Promise<void> {
  await Promise.all(workers.map(async (worker) => {
    while (performance.now() < deadline) {
      const begun = performance.now();
      try {
        await iterate(worker);
        ended(begun, performance.now());
      } catch (error) {
        ended(begun, performance.now(), error instanceof Error ? error.message : String(error));
      }
    }
  }));
}
