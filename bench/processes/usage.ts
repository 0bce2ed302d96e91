import fs from 'node:fs';

/**
 * What a process and the machine spend while a scenario runs, read from /proc (Linux only): the
 * server's peak resident memory, and the CPU time of the server (split by its threads), of
 * PostgreSQL, of the bench itself (the load generator shares the cores) and of anything else running.
 */

/** USER_HZ: the unit of /proc's CPU times, 100 on every Linux a server runs. */
const ticksPerSecond = 100;

/** Resident set size (VmRSS), in bytes; 0 once the process is gone. */
export function residentBytes(pid: number): number {
  try {
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0;
  }
}

/** User plus system CPU seconds in a /proc stat line (a process's or a thread's). */
function cpuSecondsOf(stat: string): number {
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** The command name in a /proc stat line: a thread's name, for a thread. */
const commandOf = (stat: string) => stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));

/** User plus system CPU seconds a process has used; 0 once it is gone. */
function processCpuSeconds(pid: number): number {
  try {
    return cpuSecondsOf(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return 0;
  }
}

/** Where a Node.js process's CPU went, by thread, in percent of one core. */
export interface ThreadCpu {
  /** The JavaScript thread: the requests' own work, and the pauses of garbage collection. */
  readonly main: number;
  /** V8's helper threads: concurrent and parallel garbage collection, background compilation. */
  readonly v8: number;
  /** libuv's thread pool: argon2, WebCrypto signing, asynchronous file writes (the log). */
  readonly pool: number;
  /** Node's other threads (its platform's delayed tasks, the inspector's signal thread). */
  readonly other: number;
}

type ThreadKind = keyof ThreadCpu;

/** By the names Node.js 24 gives its threads: "V8Worker" and "libuv-worker". */
function threadKind(pid: number, tid: string, name: string): ThreadKind {
  if (tid === String(pid)) return 'main';
  if (name.startsWith('V8')) return 'v8';
  if (name.startsWith('libuv-worker')) return 'pool';
  return 'other';
}

/** CPU seconds of each thread of a process now alive, by thread id; empty once the process is gone. */
function threadCpuSeconds(pid: number): Map<string, { readonly kind: ThreadKind; readonly seconds: number }> {
  const threads = new Map<string, { kind: ThreadKind; seconds: number }>();
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return threads;
  }
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      threads.set(tid, { kind: threadKind(pid, tid, commandOf(stat)), seconds: cpuSecondsOf(stat) });
    } catch {
      // it ended between the listing and the read
    }
  }
  return threads;
}

/**
 * What the threads alive at the end spent since `before`, by kind: a thread that started in between
 * counts whole; one that ended in between is missed (Node's threads live as long as the process).
 */
function threadCpuSince(pid: number, before: ReadonlyMap<string, { readonly seconds: number }>): Record<ThreadKind, number> {
  const spent: Record<ThreadKind, number> = { main: 0, v8: 0, pool: 0, other: 0 };
  for (const [tid, { kind, seconds }] of threadCpuSeconds(pid)) spent[kind] += seconds - (before.get(tid)?.seconds ?? 0);
  return spent;
}

/** CPU seconds of each PostgreSQL process (the postmaster, its backends and workers) now alive, by pid. */
function postgresCpuSeconds(): Map<string, number> {
  const seconds = new Map<string, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (commandOf(stat) !== 'postgres') continue;
      seconds.set(entry, cpuSecondsOf(stat));
    } catch {
      // it ended between the listing and the read
    }
  }
  return seconds;
}

/**
 * What the PostgreSQL processes alive at the end spent since `before`: a backend that started in
 * between counts whole. One that ended in between is missed (its time shows as "other").
 */
function postgresCpuSince(before: ReadonlyMap<string, number>): number {
  let spent = 0;
  for (const [pid, seconds] of postgresCpuSeconds()) spent += seconds - (before.get(pid) ?? 0);
  return spent;
}

/** Busy and stolen CPU seconds of all cores together, from the first line of /proc/stat. */
function machineCpuSeconds(): { busy: number; steal: number } {
  const [, ...values] = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = values.map(Number);
  return { busy: (user + nice + system + irq + softirq) / ticksPerSecond, steal: steal / ticksPerSecond };
}

/**
 * CPU in percent of one core (200 = two cores busy): the process under test, PostgreSQL, the bench
 * itself, and everything else on the machine. "other" is what this run did not cause: another
 * program competing for the cores, which makes the run's numbers lower than the machine can do.
 */
export interface CpuUse {
  /** null when the process measured is the bench itself (the argon2 ceiling). */
  readonly server: number | null;
  /** The server's CPU by thread; null with `server`. */
  readonly serverThreads: ThreadCpu | null;
  readonly postgres: number;
  readonly bench: number;
  readonly other: number;
  /** Time the hypervisor gave to other guests. */
  readonly steal: number;
}

export interface CpuWindow {
  end(): CpuUse;
}

/** Starts counting CPU time now; `end()` answers each one's share since. */
export function startCpuWindow(pid: number | null): CpuWindow {
  const started = performance.now();
  const server = pid === null ? 0 : processCpuSeconds(pid);
  const threads = pid === null ? null : threadCpuSeconds(pid);
  const postgres = postgresCpuSeconds();
  const bench = process.cpuUsage();
  const machine = machineCpuSeconds();
  return {
    end() {
      const percent = (seconds: number) => (seconds / ((performance.now() - started) / 1000)) * 100;
      const benchUsed = process.cpuUsage(bench);
      const now = machineCpuSeconds();
      const use = {
        server: pid === null ? null : percent(processCpuSeconds(pid) - server),
        serverThreads: pid === null || threads === null ? null : percentOfEach(threadCpuSince(pid, threads), percent),
        postgres: percent(postgresCpuSince(postgres)),
        bench: percent((benchUsed.user + benchUsed.system) / 1e6),
        steal: percent(now.steal - machine.steal),
      };
      const busy = percent(now.busy - machine.busy);
      return { ...use, other: Math.max(0, busy - (use.server ?? 0) - use.postgres - use.bench) };
    },
  };
}

function percentOfEach(seconds: Record<ThreadKind, number>, percent: (seconds: number) => number): ThreadCpu {
  return { main: percent(seconds.main), v8: percent(seconds.v8), pool: percent(seconds.pool), other: percent(seconds.other) };
}

/** Below this (percent of one core, server and PostgreSQL together) the server counts as idle. */
const idleCpu = 15;

/**
 * Waits until the server and PostgreSQL have finished what the last scenario left running (a slow
 * query outlives the connection that sent it), so that it is not charged to the next one. Answers
 * the seconds waited; gives up after `maxSeconds`.
 */
export async function waitUntilIdle(pid: number | null, maxSeconds = 60): Promise<number> {
  const started = performance.now();
  for (;;) {
    const window = startCpuWindow(pid);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const use = window.end();
    const waited = (performance.now() - started) / 1000;
    if ((use.server ?? 0) + use.postgres < idleCpu || waited >= maxSeconds) return waited;
  }
}

export interface RssSampler {
  /** Stops sampling and answers the highest resident size seen, in bytes. */
  stop(): number;
}

/** Samples a process's resident memory every `intervalMs` while a scenario runs. */
export function sampleRss(pid: number, intervalMs = 100): RssSampler {
  let peak = residentBytes(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, residentBytes(pid));
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, residentBytes(pid));
    },
  };
}
