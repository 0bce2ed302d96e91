import { spawn } from 'node:child_process';
import { once } from 'node:events';
import readline from 'node:readline';

import { describe, expect, it } from 'vitest';

import { startCpuWindow } from '../../../bench/processes/usage.ts';

/**
 * A real Node.js process, told over standard input what to do: "pool" hashes with PBKDF2 on libuv's
 * thread pool (as argon2 and signing do in the server), "main" spins on the JavaScript thread. It
 * answers each with "done". /proc is read as the bench reads it while a scenario runs.
 */
const worker = `
  const crypto = require('node:crypto');
  const readline = require('node:readline');
  readline.createInterface({ input: process.stdin }).on('line', async (line) => {
    if (line === 'pool') {
      await Promise.all(Array.from({ length: 8 }, () => new Promise((resolve) => crypto.pbkdf2('p', 's', 300000, 32, 'sha256', resolve))));
    } else {
      const until = Date.now() + 600;
      while (Date.now() < until);
    }
    process.stdout.write('done\\n');
  });
  process.stdout.write('ready\\n');`;

describe("a process's CPU, split by its threads", () => {
  it('puts thread-pool work under the pool and JavaScript under the main thread', async () => {
    const child = spawn(process.execPath, ['-e', worker], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async () => (await lines.next()).value as string;
    try {
      expect(await next()).toBe('ready');
      const measure = async (work: 'pool' | 'main') => {
        const window = startCpuWindow(child.pid!);
        child.stdin.write(`${work}\n`);
        expect(await next()).toBe('done');
        return window.end();
      };

      const pooled = await measure('pool');
      expect(pooled.serverThreads).not.toBeNull();
      expect(pooled.serverThreads!.pool).toBeGreaterThan(10);
      expect(pooled.serverThreads!.pool).toBeGreaterThan(5 * pooled.serverThreads!.main);

      const spun = await measure('main');
      expect(spun.serverThreads!.main).toBeGreaterThan(10);
      expect(spun.serverThreads!.main).toBeGreaterThan(5 * spun.serverThreads!.pool);
      // The threads add up to the process, give or take the clock's ticks.
      const { main, v8, pool, other } = spun.serverThreads!;
      expect(Math.abs(main + v8 + pool + other - spun.server!)).toBeLessThan(10);
    } finally {
      child.kill();
      await once(child, 'exit');
    }
  });

  it('has nothing to split for the bench itself (no server process)', () => {
    expect(startCpuWindow(null).end()).toMatchObject({ server: null, serverThreads: null });
  });
});
