import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { startScript, startScriptOf, thisCheckout } from '../../../bench/processes/mekong-id.ts';

const script = (start: string) => startScript(JSON.stringify({ scripts: { start } }));

describe('how the bench starts the server', () => {
  it('as npm start does, read from package.json: its environment and its node options', () => {
    expect(startScriptOf(thisCheckout)).toEqual({
      environment: { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072:glibc.malloc.hugetlb=1' },
      nodeOptions: ['--max-semi-space-size=8', '--heap-growing-percent=30'],
      script: 'dist/bin/mekong-id.js',
    });
  });

  it('with neither when npm start sets neither', () => {
    expect(script('exec node bin/mekong-id.js serve')).toEqual({ environment: {}, nodeOptions: [], script: 'bin/mekong-id.js' });
    expect(script('node dist/bin/mekong-id.js serve')).toEqual({ environment: {}, nodeOptions: [], script: 'dist/bin/mekong-id.js' });
  });

  it('with every variable the script sets', () => {
    expect(script('A=1 B_2=x=y exec node --jitless bin/mekong-id.js serve')).toEqual({ environment: { A: '1', B_2: 'x=y' }, nodeOptions: ['--jitless'], script: 'bin/mekong-id.js' });
  });

  it('refusing a start script that no longer runs the server, rather than measure something else', () => {
    expect(() => script('node server.js')).toThrow('does not run "[NAME=value …] exec node … [dist/]bin/mekong-id.js serve"');
    expect(() => script('npm run build && node dist/bin/mekong-id.js serve')).toThrow('does not run');
    expect(() => script('node --inspect other/bin/mekong-id.js serve')).toThrow('does not run');
  });

  it("of another checkout (--against), from that checkout's own package.json", () => {
    const checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'mekong-checkout-'));
    try {
      fs.writeFileSync(path.join(checkout, 'package.json'), JSON.stringify({ scripts: { start: 'exec node --max-semi-space-size=16 dist/bin/mekong-id.js serve' } }));
      expect(startScriptOf(checkout)).toEqual({ environment: {}, nodeOptions: ['--max-semi-space-size=16'], script: 'dist/bin/mekong-id.js' });
    } finally {
      fs.rmSync(checkout, { recursive: true, force: true });
    }
  });
});

describe('the README\'s systemd unit', () => {
  it('runs the server with the settings npm start uses', () => {
    const readme = fs.readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const { environment, nodeOptions, script } = startScriptOf(thisCheckout);
    expect(readme).toContain(`ExecStart=/usr/bin/node ${nodeOptions.join(' ')} ${script} serve`);
    for (const [name, value] of Object.entries(environment)) expect(readme).toContain(`Environment=${name}=${value}`);
  });
});
