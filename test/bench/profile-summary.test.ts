import { describe, expect, it } from 'vitest';

import { summariseCpuProfile } from '../../bench/profile-summary.ts';

const inProject = (file: string) => new URL(`../../${file}`, import.meta.url).href;
const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber });

/** root → handler (ours) → stringify (a package), and root → (idle); 1 ms per sample. */
function profileOf(ownFile: string) {
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)', ''), children: [2, 4] },
      { id: 2, callFrame: frame('handler', inProject(ownFile), 9), children: [3] },
      { id: 3, callFrame: frame('stringify', inProject('node_modules/fast-json/index.js')) },
      { id: 4, callFrame: frame('(idle)', '') },
    ],
    samples: [2, 3, 3, 3, 4, 4],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000],
  };
}

describe('the CPU profile summary', () => {
  it('charges our own functions with their callees, whether they run from src/ or from the build in dist/src/', () => {
    for (const file of ['src/http/handler.ts', 'dist/src/http/handler.js']) {
      const summary = summariseCpuProfile(profileOf(file));
      expect(summary.busyMs).toBe(4);
      expect(summary.idleMs).toBe(2);
      expect(summary.ownFunctions).toEqual([{ name: `handler ${file}:10`, ms: 4, share: 1 }]);
      expect(summary.packages.map((spot) => [spot.name, spot.ms])).toEqual([['fast-json', 3], [file.split('/').slice(0, 2).join('/'), 1]]);
    }
  });

  it('counts no package\'s function as ours', () => {
    const summary = summariseCpuProfile(profileOf('node_modules/other/src/handler.js'));
    expect(summary.ownFunctions).toEqual([]);
    expect(summary.packages.map((spot) => spot.name)).toEqual(['fast-json', 'other']);
  });
});
