#!/usr/bin/env node
/* global process, console */
// Plain JavaScript so that an old Node.js gets a clear message instead of a syntax error:
// Mekong ID runs its TypeScript sources directly through Node's built-in type stripping.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(`Mekong ID needs Node.js 22.18 or newer (24 LTS recommended); this is Node.js ${process.versions.node}.`);
  process.exit(1);
}
await import('../src/cli/main.ts');
