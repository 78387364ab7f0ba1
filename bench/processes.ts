import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setPriority } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Probe } from './prober.ts';

/** Child processes of the benchmark: the system, the baselines and the load generator. */
export const ROOT = new URL('../', import.meta.url).pathname;

/**
 * Starts `node <script>` from the repository root with the given environment; its
 * stdout and stderr go to `logFile`. `ipc` gives it a `process.send` channel.
 */
export function startNode(
  script: string,
  opts: { env?: Record<string, string>; args?: string[]; nodeArgs?: string[]; logFile: string; ipc?: boolean },
): ChildProcess {
  // A log file in a folder not made yet would fail after the child started, leaving it running.
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const env = { ...process.env, ...opts.env };
  const child = opts.ipc
    ? fork(script, opts.args ?? [], { cwd: ROOT, env, execArgv: opts.nodeArgs, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    : spawn(process.execPath, [...(opts.nodeArgs ?? []), script, ...(opts.args ?? [])], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return child;
}

/**
 * Lowers a running process's CPU priority to `nice` (0: leaves it). Niceness is per
 * thread on Linux, so every thread it has now (V8's and libuv's included) is set;
 * threads it starts later inherit it.
 */
export function lowerPriority(pid: number | undefined, nice: number): void {
  if (!pid || nice <= 0) return;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      setPriority(Number(tid), nice);
    } catch {
      /* the thread has ended */
    }
  }
}

/** Runs a script to completion; rejects on a non-zero exit. */
export async function runNode(script: string, env: Record<string, string>, logFile: string): Promise<void> {
  const child = startNode(script, { env, logFile });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${script} exited with ${code}; see ${logFile}`);
}

/** Peak resident set size (VmHWM) of a live process, in bytes; 0 when unknown. */
export function peakRss(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stop(child: ChildProcess | undefined, graceMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Polls `GET <path>` until it answers 200, or fails after `timeoutMs`. */
export async function waitHttp(port: number, path: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`process on port ${port} exited with ${child.exitCode}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > until) throw new Error(`http://127.0.0.1:${port}${path} not ready after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Waits for the first IPC message of a given type from a forked child. */
export function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string }) => {
      if (m.type !== type) return;
      cleanup();
      resolve(m as T);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`child exited with ${code} while waiting for "${type}"`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/**
 * General buyers (bench/general-buyers.ts, a process of their own) sending purchases of
 * `productId` to `port` at `perSecond`, open loop, from now until `stop`, which returns
 * every probe. `idleFrom`: a second after they started, once their connections are warm.
 */
export async function startGeneralBuyers(
  opts: { port: number; productId: number; secret: string; perSecond: number; count: number; logFile: string },
): Promise<{ idleFrom: number; stop(): Promise<Probe[]> }> {
  const { logFile, ...start } = opts;
  const buyers = startNode('bench/general-buyers.ts', { logFile, ipc: true });
  buyers.send({ type: 'start', ...start });
  const idleFrom = (await nextMessage<{ at: number }>(buyers, 'started')).at + 1000;
  return {
    idleFrom,
    async stop() {
      buyers.send({ type: 'stop' });
      const probes = (await nextMessage<{ result: Probe[] }>(buyers, 'done')).result;
      buyers.disconnect();
      await stop(buyers);
      return probes;
    },
  };
}

/** Sends one task to the load generator and waits for its result. */
export async function task<T>(loadgen: ChildProcess, message: object): Promise<T> {
  const answer = new Promise<{ type: string; result?: T; error?: string }>((resolve, reject) => {
    const onMessage = (m: { type: string; result?: T; error?: string }) => {
      if (m.type !== 'done' && m.type !== 'failed') return;
      cleanup();
      resolve(m);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`load generator exited with ${code}`));
    };
    const cleanup = () => {
      loadgen.off('message', onMessage);
      loadgen.off('exit', onExit);
    };
    loadgen.on('message', onMessage);
    loadgen.once('exit', onExit);
  });
  loadgen.send(message);
  const m = await answer;
  if (m.type === 'failed') throw new Error(`load generator: ${m.error}`);
  return m.result as T;
}

/** Follows the load generator's progress messages; returns the unsubscribe function. */
export function onProgress(loadgen: ChildProcess, fn: (done: number) => void): () => void {
  const listener = (m: { type: string; done: number }) => {
    if (m.type === 'progress') fn(m.done);
  };
  loadgen.on('message', listener);
  return () => loadgen.off('message', listener);
}

/** CPU time (user + system) a process has used so far, in seconds; 0 when unknown. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return 0;
  }
}

/** The pid of the first process whose name is one of `names` (e.g. the MariaDB server). */
export function pidOf(...names: string[]): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) return Number(entry);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/** CPU seconds the whole machine has spent busy (all cores, not idle or iowait). */
export function machineCpuSeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - fields[3] - fields[4]) / 100;
}

/**
 * Cores each named process keeps busy between `start()` and `stop()`, plus `other`:
 * everything else on the machine (a busy neighbour makes a run noisy).
 */
export class CpuMeter {
  private readonly pids: Record<string, number | undefined>;
  private readonly before: Record<string, number> = {};
  private machineBefore = 0;
  private startedAt = 0;

  constructor(pids: Record<string, number | undefined>) {
    this.pids = pids;
  }

  start(): this {
    this.startedAt = performance.now();
    for (const [name, pid] of Object.entries(this.pids)) this.before[name] = cpuSeconds(pid);
    this.machineBefore = machineCpuSeconds();
    return this;
  }

  /** name → share of one core used over the interval (1.0 = one core busy); {} under 0.5 s. */
  stop(): Record<string, number> {
    const wall = (performance.now() - this.startedAt) / 1000;
    const cores: Record<string, number> = {};
    if (wall < 0.5) return cores;
    let ours = 0;
    for (const [name, pid] of Object.entries(this.pids)) {
      const used = cpuSeconds(pid) - this.before[name];
      ours += used;
      cores[name] = Math.round((used / wall) * 100) / 100;
    }
    cores.other = Math.round(((machineCpuSeconds() - this.machineBefore - ours) / wall) * 100) / 100;
    return cores;
  }
}

/** The processes whose CPU the benchmark accounts for besides the ones it starts. */
export type Pids = { loadgen?: number; redis?: number; mysql?: number; bench?: number };
