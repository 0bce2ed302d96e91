#!/usr/bin/env node
/* global process, console */
import os from 'node:os';

// Plain JavaScript so that an old Node.js gets a clear message instead of a syntax error:
// this file runs the TypeScript sources directly through Node's built-in type stripping.
// `npm run build` compiles it with them into dist/bin/mekong-id.js, which loads the compiled main.js.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(`Mekong ID needs Node.js 22.18 or newer (24 LTS recommended); this is Node.js ${process.versions.node}.`);
  process.exit(1);
}
// Password hashing and token signing share libuv's thread pool (4 threads unless told). Size it to
// cores + 2 (at least 4, at most libuv's 1024) before anything uses it, so that the hashes Mekong ID
// allows at once (one per core) always leave threads for signing.
process.env.UV_THREADPOOL_SIZE ||= String(Math.min(1024, Math.max(4, os.availableParallelism() + 2)));
await import('../src/cli/main.ts');
