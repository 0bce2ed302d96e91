import { describe, expect, it } from 'vitest';

import { meanCpu, turnOrder } from '../../../bench/scenarios/side-by-side.ts';

describe('a scenario and its baseline measured in turns', () => {
  it('take turns A B, then B A, so that a drift over the run favours neither', () => {
    expect(turnOrder(1)).toEqual([0, 1]);
    expect(turnOrder(4)).toEqual([0, 1, 1, 0, 0, 1, 1, 0]);
    const order = turnOrder(5);
    expect(order.filter((side) => side === 0)).toHaveLength(5);
    expect(order.filter((side) => side === 1)).toHaveLength(5);
  });

  it("report each side's CPU over its own turns, weighted by how long each lasted", () => {
    const cpu = meanCpu([
      { cpu: { server: 100, serverThreads: { main: 60, v8: 20, pool: 20, other: 0 }, postgres: 40, bench: 10, other: 0, steal: 0 }, seconds: 3 },
      { cpu: { server: 140, serverThreads: { main: 100, v8: 16, pool: 20, other: 4 }, postgres: 0, bench: 20, other: 8, steal: 4 }, seconds: 1 },
    ]);
    expect(cpu).toEqual({ server: 110, serverThreads: { main: 70, v8: 19, pool: 20, other: 1 }, postgres: 30, bench: 12.5, other: 2, steal: 1 });
  });

  it('report no server CPU when a turn could not read it', () => {
    const unread = meanCpu([{ cpu: { server: null, serverThreads: null, postgres: 1, bench: 1, other: 0, steal: 0 }, seconds: 1 }]);
    expect(unread.server).toBeNull();
    expect(unread.serverThreads).toBeNull();
  });
});
