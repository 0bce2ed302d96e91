import { fileURLToPath } from 'node:url';

import { freePort, spawnNode, type NodeChild } from './child.ts';

const script = fileURLToPath(new URL('./bare-provider-server.ts', import.meta.url));

export interface BareProvider {
  readonly issuer: string;
  readonly apiResource: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** One refresh token per rotation chain, as a code flow with offline_access would have left. */
  readonly refreshTokens: readonly string[];
  readonly process: NodeChild;
}

/** Starts the bare oidc-provider baseline and waits for the line that says it listens. */
export async function startBareProvider(refreshChains: number, logFile: string): Promise<BareProvider> {
  const port = await freePort();
  let output = '';
  let announced: (line: string) => void = () => undefined;
  const firstLine = new Promise<string>((resolve) => (announced = resolve));
  const child = spawnNode({
    script,
    env: { ...process.env, NODE_ENV: 'production', BENCH_PORT: String(port), BENCH_REFRESH_CHAINS: String(refreshChains) },
    // Where oidc-provider's warning about its in-memory adapter goes: that adapter is the point here.
    logFile,
    onStdout: (chunk) => {
      output += chunk;
      const end = output.indexOf('\n');
      if (end >= 0) announced(output.slice(0, end));
    },
  });
  const line = await Promise.race([
    firstLine,
    child.exited.then((code) => Promise.reject(new Error(`the bare oidc-provider exited (code ${String(code)}) before it listened`))),
  ]);
  const handshake = JSON.parse(line) as Omit<BareProvider, 'process'>;
  return { ...handshake, process: child };
}
