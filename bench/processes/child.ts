import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

/**
 * Servers under test run as child processes: their memory is theirs alone to measure, and a CPU
 * profile covers only them (see usage.ts for what is read from /proc).
 */
export interface NodeChild {
  readonly pid: number;
  /** Resolves with the exit code once the process has ended (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not ended within the grace period. */
  stop(graceMs?: number): Promise<void>;
}

export interface NodeChildOptions {
  readonly script: string;
  readonly args?: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Options for node itself, such as --cpu-prof. */
  readonly nodeArgs?: readonly string[];
  /** Standard error, and standard output unless `onStdout` reads it, are appended here (unset: the bench's own). */
  readonly logFile?: string;
  readonly onStdout?: (chunk: string) => void;
}

export function spawnNode(options: NodeChildOptions): NodeChild {
  const log = options.logFile === undefined ? null : fs.openSync(options.logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script, ...(options.args ?? [])], {
    env: options.env,
    stdio: ['ignore', options.onStdout ? 'pipe' : (log ?? 'inherit'), log ?? 'inherit'],
  });
  if (log !== null) fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${options.script}`);
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => options.onStdout?.(chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    pid: child.pid,
    exited,
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** A free TCP port on loopback: a server's issuer URL must name its port before it starts. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `url` until it answers 200, failing early if the process dies first. */
export async function waitUntilReady(url: string, child: NodeChild, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let died = false;
  void child.exited.then(() => (died = true));
  for (;;) {
    if (died) throw new Error(`the server exited before ${url} answered`);
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
