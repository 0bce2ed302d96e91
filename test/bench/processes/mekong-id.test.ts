import { describe, expect, it } from 'vitest';

import { startScriptNodeOptions } from '../../../bench/processes/mekong-id.ts';

describe('the node options the bench starts the server with', () => {
  it('are those of npm start, read from package.json', () => {
    expect(startScriptNodeOptions()).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=50']);
  });

  it('are none when npm start gives node none', () => {
    expect(startScriptNodeOptions(JSON.stringify({ scripts: { start: 'exec node bin/mekong-id.js serve' } }))).toEqual([]);
  });

  it('refuse a start script that no longer runs the server, rather than measure something else', () => {
    expect(() => startScriptNodeOptions(JSON.stringify({ scripts: { start: 'node server.js' } }))).toThrow('does not run "node … bin/mekong-id.js serve"');
  });
});
