import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { runClosedLoopTurn } from '../../../bench/load/closed-loop.ts';
import { createLatencyRecorder } from '../../../bench/load/latency.ts';

describe('a turn of a closed loop', () => {
  it('counts every iteration begun in the turn, those still in flight at its end too, and lasts until the last one ends', async () => {
    const recorder = createLatencyRecorder();
    const ended: number[] = [];
    const started = performance.now();
    // Iterations of 40 ms on three workers over a 100 ms turn: each worker's last one ends after the turn.
    const seconds = await runClosedLoopTurn([0, 1, 2], 0.1, async () => {
      await sleep(40);
      ended.push(performance.now());
    }, recorder);
    const result = recorder.result(seconds);
    expect(result.completed).toBe(ended.length);
    expect(result.completed).toBeGreaterThanOrEqual(3);
    expect(ended.filter((time) => time - started >= 100).length).toBeGreaterThanOrEqual(3);
    expect(result.failed).toBe(0);
    expect(seconds).toBeGreaterThanOrEqual(0.1);
    expect(seconds * 1000).toBeLessThanOrEqual(performance.now() - started);
  });

  it('records failures with their reason, and goes on', async () => {
    const recorder = createLatencyRecorder();
    let calls = 0;
    await runClosedLoopTurn([0], 0.05, async () => {
      calls += 1;
      await sleep(5);
      if (calls % 2 === 0) throw new Error('HTTP 400: invalid_grant');
    }, recorder);
    const result = recorder.result(0.05);
    expect(result.failed).toBe(Math.floor(calls / 2));
    expect(result.completed).toBe(Math.ceil(calls / 2));
    expect(result.firstFailure).toBe('HTTP 400: invalid_grant');
  });
});
