import { describe, expect, it } from 'vitest';

import { createLatencyRecorder } from '../../../bench/load/latency.ts';

describe('the latency recorder', () => {
  it('counts successes per second and reads percentiles of their latency', () => {
    const recorder = createLatencyRecorder();
    for (let ms = 1; ms <= 100; ms += 1) recorder.succeeded(ms);
    recorder.failed('HTTP 503');
    recorder.failed('HTTP 500');
    const result = recorder.result(4);
    expect(result).toMatchObject({ completed: 100, failed: 2, requestsPerSecond: 25, firstFailure: 'HTTP 503' });
    expect(result.latencyMs.p50).toBeCloseTo(50, 0);
    expect(result.latencyMs.p99).toBeCloseTo(99, 0);
  });

  it('says so when nothing finished within the measured time', () => {
    const result = createLatencyRecorder().result(3);
    expect(result).toMatchObject({ completed: 0, requestsPerSecond: 0, firstFailure: 'nothing finished within the 3.0 s measured' });
    expect(result.latencyMs.p50).toBeNaN();
  });
});
