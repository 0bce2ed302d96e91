import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { spawnNode, waitUntilReady, type NodeChild } from './child.ts';

/** This checkout: the one the bench measures, unless told to run another (--against). */
export const thisCheckout = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

export interface StartScript {
  /** Variables the script sets for the process (glibc's malloc arenas). */
  readonly environment: Readonly<Record<string, string>>;
  /** Options it gives node (V8's heap sizing). */
  readonly nodeOptions: readonly string[];
  /** The command line it runs, relative to the checkout: the built one (dist/bin/mekong-id.js) or the sources' own. */
  readonly script: string;
}

/**
 * How `npm start` runs the server, the settings that keep its memory small, read from package.json
 * so that the bench measures the server as it is run, not a copy that could drift:
 * `[NAME=value …] exec node [options …] [dist/]bin/mekong-id.js serve`.
 */
export function startScript(packageJson: string): StartScript {
  const start = (JSON.parse(packageJson) as { scripts?: { start?: unknown } }).scripts?.start;
  const parts = typeof start === 'string'
    ? /^((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)(?:exec\s+)?node\s+((?:-\S+\s+)*)((?:dist\/)?bin\/mekong-id\.js) serve$/.exec(start.trim())
    : null;
  if (!parts) throw new Error(`package.json's start script does not run "[NAME=value …] exec node … [dist/]bin/mekong-id.js serve": ${String(start)}`);
  const words = (text: string | undefined) => (text ?? '').split(/\s+/).filter(Boolean);
  return {
    environment: Object.fromEntries(words(parts[1]).map((assignment) => {
      const at = assignment.indexOf('=');
      return [assignment.slice(0, at), assignment.slice(at + 1)];
    })),
    nodeOptions: words(parts[2]),
    script: parts[3]!,
  };
}

/** The start script of a checkout of Mekong ID: this one, or another one the bench compares it with (--against). */
export const startScriptOf = (checkout: string): StartScript => startScript(fs.readFileSync(path.join(checkout, 'package.json'), 'utf8'));

/**
 * What `npm start` does before it starts the server: `npm run build` compiles the sources into dist/
 * when the start script runs the built command line. Returns the seconds it took, 0 when there was
 * nothing to build.
 */
export async function buildAsNpmStartDoes(checkout = thisCheckout): Promise<number> {
  const script = startScriptOf(checkout);
  if (!script.script.startsWith('dist/')) return 0;
  const started = performance.now();
  await run('npm', ['run', '--silent', 'build'], { cwd: checkout });
  return (performance.now() - started) / 1000;
}

/**
 * How Mekong ID runs in production, minus TLS: NODE_ENV=production (so MASTER_KEY, COOKIE_KEYS and
 * ISSUER are required and nothing is generated for convenience), JSON logs at the default level
 * going to a file. Plain http on loopback: in production TLS ends at the reverse proxy in front,
 * which is not what is being measured. Settings the operator exported (ARGON2_*, say) pass through.
 */
export function productionEnvironment(databaseUrl: string, port: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    ISSUER: `http://127.0.0.1:${port}`,
    MASTER_KEY: randomBytes(32).toString('base64'),
    COOKIE_KEYS: randomBytes(32).toString('base64url'),
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
    TRUST_PROXY: 'false',
  };
}

export interface MekongIdServer {
  readonly issuer: string;
  readonly env: NodeJS.ProcessEnv;
  readonly process: NodeChild;
}

export interface StartOptions {
  /** From productionEnvironment(): the port it names is the one the server listens on. */
  readonly env: NodeJS.ProcessEnv;
  /** The checkout to run, with its own start script; this one unless told. */
  readonly checkout?: string;
  readonly logFile: string;
  /** Where V8 writes the server's CPU profile when it exits; no profile when unset. */
  readonly cpuProfileDir?: string | undefined;
}

/** `mekong-id serve` (which migrates first) as a child process, once /readyz says it is ready. */
export async function startMekongId(options: StartOptions): Promise<MekongIdServer> {
  const { env } = options;
  const checkout = options.checkout ?? thisCheckout;
  const { environment, nodeOptions, script } = startScriptOf(checkout);
  const child = spawnNode({
    script: path.join(checkout, script),
    args: ['serve'],
    env: { ...environment, ...env },
    logFile: options.logFile,
    nodeArgs: [...nodeOptions, ...(options.cpuProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`])],
  });
  const issuer = env['ISSUER']!;
  try {
    await waitUntilReady(`${issuer}/readyz`, child);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { issuer, env, process: child };
}

export interface RegisteredClient {
  readonly client_id: string;
  readonly client_secret: string;
}

/** Registers a client through the public command line, as an operator would (`clients create … --json`). */
export async function createClientWithCli(env: NodeJS.ProcessEnv, args: readonly string[], checkout = thisCheckout): Promise<RegisteredClient> {
  const { stdout } = await run(process.execPath, [path.join(checkout, startScriptOf(checkout).script), 'clients', 'create', ...args, '--json'], { env });
  const registered = JSON.parse(stdout) as Partial<RegisteredClient>;
  if (!registered.client_id || !registered.client_secret) throw new Error(`clients create printed no credentials: ${stdout}`);
  return { client_id: registered.client_id, client_secret: registered.client_secret };
}
