import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { createLogger, requestLineLogger } from '../src/logger.ts';

const run = promisify(execFile);
const logger = new URL('../src/logger.ts', import.meta.url).href;

describe('the server log on standard output', () => {
  it('loses no line when the process exits straight after logging, though it writes asynchronously', async () => {
    // A child process, since what is checked is what reaches the pipe when the process ends.
    const script = `
      const { bufferedStdout, createLogger } = await import(${JSON.stringify(logger)});
      const log = createLogger('info', { destination: bufferedStdout() });
      for (let line = 1; line <= 2000; line += 1) log.info({ line }, 'request');
      process.exit(0);`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { maxBuffer: 16 * 1024 * 1024 });
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as { line: number; service: string });
    expect(lines).toHaveLength(2000);
    expect(lines.at(-1)).toMatchObject({ line: 2000, service: 'mekong-id' });
  });

  it('redacts a password logged by mistake', async () => {
    const script = `
      const { bufferedStdout, createLogger } = await import(${JSON.stringify(logger)});
      createLogger('info', { destination: bufferedStdout() }).info({ password: 'Mật khẩu bí mật 2026' }, 'oops');`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
    expect(stdout).toContain('"password":"[redacted]"');
    expect(stdout).not.toContain('bí mật');
  });

  it('writes the request line with the same fields and level, and the other lines are still redacted', () => {
    const written: string[] = [];
    const log = createLogger('warn', { destination: { write: (line: string) => void written.push(line) } });
    const requestLog = requestLineLogger(log);
    requestLog.info({ path: '/token' }, 'below the level');
    requestLog.warn({ requestId: 'r-1', method: 'POST', path: '/token', status: 200, ms: 3 }, 'request');
    log.warn({ client_secret: 'bí mật của ứng dụng' }, 'oops');
    const [requestLine, otherLine, ...rest] = written.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rest).toHaveLength(0);
    expect(requestLine).toMatchObject({ service: 'mekong-id', level: 40, requestId: 'r-1', method: 'POST', path: '/token', status: 200, ms: 3, msg: 'request' });
    expect(typeof requestLine?.['time']).toBe('string');
    expect(otherLine).toMatchObject({ client_secret: '[redacted]', msg: 'oops' });
  });
});
