import { createHistogram } from 'node:perf_hooks';

/** How long a load runs: a warm-up (JIT, connection pools, PostgreSQL's caches), then the measured time. */
export interface Timing {
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
}

/** What one measured run of a scenario produced: successes per second and their latency. */
export interface LoadResult {
  /** Requests (or, for the login, whole sign-ins) that succeeded within the measured time. */
  readonly completed: number;
  readonly failed: number;
  readonly durationSeconds: number;
  readonly requestsPerSecond: number;
  /** Latency of the successful ones, in milliseconds; NaN (null in JSON) when none finished. */
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number };
  /** The first failure seen, so that a broken scenario says why rather than only how often. */
  readonly firstFailure: string | null;
}

export interface LatencyRecorder {
  succeeded(milliseconds: number): void;
  failed(reason: string): void;
  result(durationSeconds: number): LoadResult;
}

/**
 * One histogram for every driver (autocannon and the undici driver alike), so that their
 * percentiles mean the same thing. It holds whole microseconds: 1 µs resolution is far finer than
 * the run-to-run noise of an HTTP round trip.
 */
export function createLatencyRecorder(): LatencyRecorder {
  const histogram = createHistogram();
  let failed = 0;
  let firstFailure: string | null = null;
  const percentileMs = (percentile: number) => (histogram.count === 0 ? Number.NaN : histogram.percentile(percentile) / 1000);
  return {
    succeeded(milliseconds) {
      histogram.record(Math.max(1, Math.round(milliseconds * 1000)));
    },
    failed(reason) {
      failed += 1;
      firstFailure ??= reason;
    },
    result(durationSeconds) {
      return {
        completed: histogram.count,
        failed,
        durationSeconds,
        requestsPerSecond: histogram.count / durationSeconds,
        latencyMs: { p50: percentileMs(50), p95: percentileMs(95), p99: percentileMs(99) },
        // A request slower than the whole run finishes after it and counts neither way: say so.
        firstFailure: firstFailure ?? (histogram.count === 0 ? `nothing finished within the ${durationSeconds.toFixed(1)} s measured` : null),
      };
    },
  };
}
