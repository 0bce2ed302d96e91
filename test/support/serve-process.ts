import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort } from './server.ts';

export const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));
export const cliPath = path.join(repositoryRoot, 'bin', 'mekong-id.js');

/** What `npm run build` makes of bin/mekong-id.js: the command line npm start runs. */
export const builtCliPath = path.join(repositoryRoot, 'dist', 'bin', 'mekong-id.js');

/** Runs `mekong-id ARGS` as an operator's shell would: from the repository, with exactly this environment. */
export function spawnCli(args: readonly string[], env: Record<string, string>, cli = cliPath): ChildProcess {
  return spawn(process.execPath, [cli, ...args], { cwd: repositoryRoot, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: 'pipe' });
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `mekong-id ARGS` with `stdin` piped in, and waits for it to exit. */
export async function runCli(args: readonly string[], env: Record<string, string>, stdin = ''): Promise<CliResult> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin!.end(stdin);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  return { code, stdout, stderr };
}

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A running `mekong-id serve`, its stdout split into log lines. */
export interface ServeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  logLines(): LogLine[];
  /** Polls /readyz until it answers 200; throws with the process's output if it exits or the time runs out. */
  ready(timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within a few seconds. */
  stop(): Promise<void>;
}

/**
 * Environment a test server process needs besides its database: fresh keys unless the test shares
 * them between nodes, quiet JSON logs unless TEST_LOG_LEVEL asks for more.
 */
export function serveEnvironment(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'info',
    MASTER_KEY: randomBytes(32).toString('base64'),
    COOKIE_KEYS: randomBytes(32).toString('base64url'),
    ...overrides,
  };
}

/** Starts `mekong-id serve` (from `cli`: the sources unless told) on a free port (unless `env` names one); does not wait for it to be ready. */
export async function spawnServe(env: Record<string, string>, cli = cliPath): Promise<ServeProcess> {
  const port = env['PORT'] ? Number(env['PORT']) : await freePort();
  const child = spawnCli(['serve'], { PORT: String(port), ...env }, cli);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const url = `http://127.0.0.1:${port}`;
  return {
    child,
    url,
    port,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    logLines: () =>
      stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as LogLine),
    async ready(timeoutMs = 45_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (!running()) throw new Error(`mekong-id serve exited before it was ready:\n${stdout}\n${stderr}`);
        const ready = await fetch(`${url}/readyz`).then((response) => response.status === 200, () => false);
        if (ready) return;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      throw new Error(`mekong-id serve did not become ready within ${timeoutMs / 1000} s:\n${stdout}\n${stderr}`);
    },
    async stop() {
      if (!running()) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
