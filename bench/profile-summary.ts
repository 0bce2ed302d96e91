/**
 * Where a V8 CPU profile (node --cpu-prof) spent its time: the functions, files and packages with
 * the most self time, and Mekong ID's own functions with the most total time, as shares of the time
 * the main thread was busy (idle excluded). A V8 profile sees the main thread only: argon2 and
 * other work on libuv's thread pool is not in it. The bench prints this after a --cpu-prof run; it
 * also runs on its own:
 *
 *   node bench/profile-summary.ts bench/results/profiles/CPU.….cpuprofile [--top 25]
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CpuProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly CpuProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface HotSpot {
  readonly name: string;
  readonly ms: number;
  /** Share of the busy time, 0 to 1. */
  readonly share: number;
}

export interface ProfileSummary {
  readonly busyMs: number;
  readonly idleMs: number;
  /** By self time: where the CPU actually was. */
  readonly functions: readonly HotSpot[];
  readonly files: readonly HotSpot[];
  readonly packages: readonly HotSpot[];
  /**
   * Mekong ID's own functions (src/, or dist/src/ as npm start runs them) by total time, their
   * callees included: which of our steps cost the most. An async function is charged for its
   * synchronous stretches only: after an await, V8 sees the continuation start from the microtask
   * queue, not from its caller.
   */
  readonly ownFunctions: readonly HotSpot[];
}

const projectRoot = fileURLToPath(new URL('../', import.meta.url));

/** A file as a person would name it: relative to the project, or node's own module name. */
function fileOf(url: string): string {
  if (url === '') return '(native)';
  const file = url.startsWith('file://') ? fileURLToPath(url) : url;
  return file.startsWith(projectRoot) ? path.relative(projectRoot, file) : file;
}

/** node_modules/<package> (scoped ones whole), the project's own top folders, or node's internals. */
function packageOf(file: string): string {
  const inModules = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (inModules) return inModules[1]!;
  if (file.startsWith('node:')) return 'node (internal)';
  if (file.startsWith('(')) return file;
  return file.split('/').slice(0, 2).join('/');
}

/** Mekong ID's own code: the sources, or what npm run build compiled them to (dist/src/, the server npm start runs). */
const isOwnFile = (file: string) => file.startsWith('src/') || file.startsWith('dist/src/');

function ranked(totals: Map<string, number>, busyMs: number, top: number): HotSpot[] {
  return [...totals].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, ms]) => ({ name, ms, share: ms / busyMs }));
}

const functionKey = (frame: CpuProfileNode['callFrame']) =>
  `${frame.functionName || '(anonymous)'}${frame.url === '' ? '' : ` ${fileOf(frame.url)}:${frame.lineNumber + 1}`}`;

export function summariseCpuProfile(profile: CpuProfile, top = 20): ProfileSummary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const selfMsByNode = new Map<number, number>();
  // timeDeltas[i] is the time from sample i-1 to sample i; it is charged to the function sampled at i.
  profile.samples.forEach((id, index) => selfMsByNode.set(id, (selfMsByNode.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0) / 1000));

  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  const packages = new Map<string, number>();
  const ownFunctions = new Map<string, number>();
  const add = (totals: Map<string, number>, key: string, ms: number) => totals.set(key, (totals.get(key) ?? 0) + ms);
  let idleMs = 0;
  let busyMs = 0;
  for (const [id, selfMs] of selfMsByNode) {
    const { callFrame } = nodes.get(id)!;
    if (callFrame.functionName === '(idle)') {
      idleMs += selfMs;
      continue;
    }
    busyMs += selfMs;
    const file = fileOf(callFrame.url);
    add(functions, functionKey(callFrame), selfMs);
    add(files, file, selfMs);
    add(packages, packageOf(file), selfMs);
    // Every one of our functions on this stack spent this time, once each however deep it recursed.
    const onStack = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const frame = nodes.get(at)!.callFrame;
      if (isOwnFile(fileOf(frame.url))) onStack.add(functionKey(frame));
    }
    for (const key of onStack) add(ownFunctions, key, selfMs);
  }
  return {
    busyMs,
    idleMs,
    functions: ranked(functions, busyMs, top),
    files: ranked(files, busyMs, top),
    packages: ranked(packages, busyMs, top),
    ownFunctions: ranked(ownFunctions, busyMs, top),
  };
}

export function describeProfileSummary(summary: ProfileSummary): string {
  const table = (title: string, spots: readonly HotSpot[], kind = 'self') => [
    `| ${title} | ${kind} ms | share of busy |`,
    '| --- | ---: | ---: |',
    ...spots.map((spot) => `| ${spot.name.replaceAll('|', '\\|')} | ${Math.round(spot.ms)} | ${(spot.share * 100).toFixed(1)}% |`),
  ].join('\n');
  return [
    `busy ${(summary.busyMs / 1000).toFixed(1)} s, idle ${(summary.idleMs / 1000).toFixed(1)} s`,
    '', table('function (self time)', summary.functions),
    '', table('file', summary.files),
    '', table('package', summary.packages),
    '', table('Mekong ID function (callees included)', summary.ownFunctions, 'total'),
  ].join('\n');
}

export function readCpuProfile(file: string): CpuProfile {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '20' } }, allowPositionals: true });
  if (positionals.length !== 1) {
    console.error('usage: node bench/profile-summary.ts FILE.cpuprofile [--top N]');
    process.exitCode = 64;
  } else {
    console.log(describeProfileSummary(summariseCpuProfile(readCpuProfile(positionals[0]!), Number(values.top))));
  }
}
