import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Keys } from '../shared/redis/keys.ts';
import { adminClient } from './drop.ts';
import type { RushResult } from './loadgen.ts';
import { CpuMeter, lowerPriority, onProgress, runNode, startNode, stop, task, waitHttp, type Pids } from './processes.ts';
import type { BenchRedis } from './redis-target.ts';
import { line, nodeArgs, profileArgs, systemEnv, type Settings } from './settings.ts';

/**
 * Pure admission: what it costs to admit tickets that are really queued. In the drop most
 * requests are `409 sold_out` answered from memory; here a reserve product with 5,000,000
 * units, open, admission rate 1/s (so the workers stay nearly idle), takes a timed rush in
 * which every request is a new buyer and must get a `202`. The same rush, for the same
 * time, hits the system in both deployments (`npm start`: API and workers in one process;
 * and API and workers apart, as docker-compose.yml runs them) and two bare servers:
 * bare Koa + `queue.add` (bench/baseline-api.ts) and bare Koa + one EVALSHA
 * (bench/baseline-evalsha.ts), alternating system and bare. See bench/README.md.
 */
export type AdmissionTarget = 'single' | 'split' | 'bareQueue' | 'bareEval';

export const TARGET_NAMES: Record<AdmissionTarget, string> = {
  single: 'system, one process (npm start)',
  split: 'system, API + workers apart',
  bareQueue: 'bare Koa + queue.add',
  bareEval: 'bare Koa + one EVALSHA',
};

export type AdmissionRun = {
  rush: RushResult;
  /** Cores busy per process during the rush (`other`: the rest of the machine). */
  cpu: Record<string, number>;
  /** CPU of the servers (the target's processes, Redis, MySQL) per request, µs. */
  cpuPerRequestUs: number;
  /** Requests answered 202, and every other answer (each a failure). */
  accepted: number;
  failures: Record<string, number>;
  /** What the target holds afterwards: tickets (the system's stats), jobs waiting, or queue entries. */
  recorded: number;
};

export type AdmissionRound = { index: number; order: AdmissionTarget[]; runs: Partial<Record<AdmissionTarget, AdmissionRun>> };

/** Tokens of the phase: a set of their own, users `a-<n>`, none of the drop's. */
export const ADMISSION_SET = { set: 'admission', userPrefix: 'a-' };
const STOCK = 5_000_000;
/** Processes that are not the servers under test. */
const CLIENTS = new Set(['loadgen', 'bench', 'other']);

/**
 * One round: each target once, system and bare alternating, the order reversed in even
 * rounds so a drift of the machine does not always favour the same side. `clean` removes
 * the database and every key of the bench's prefixes.
 */
export async function runAdmissionRound(
  s: Settings, loadgen: ChildProcess, target: BenchRedis, pids: Pids, index: number, clean: () => Promise<void>,
): Promise<AdmissionRound> {
  const order: AdmissionTarget[] = ['bareQueue', 'single', 'bareEval', 'split'];
  if (index % 2 === 0) order.reverse();
  const runs: AdmissionRound['runs'] = {};
  for (const which of order) {
    await clean();
    runs[which] = which === 'single' || which === 'split'
      ? await runSystem(s, loadgen, target, pids, which)
      : await runBare(s, loadgen, target, pids, which);
    const r = runs[which];
    line(`bench: admission, ${TARGET_NAMES[which]}: ${r.rush.sent} requests in ${(r.rush.durationMs / 1000).toFixed(2)}s = ` +
      `${r.rush.perSecond.toFixed(0)}/s, p50 ${r.rush.latency.p50.toFixed(1)} ms p99 ${r.rush.latency.p99.toFixed(1)} ms; ` +
      `${r.accepted} × 202${Object.keys(r.failures).length ? `, FAILURES ${JSON.stringify(r.failures)}` : ''}; recorded ${r.recorded}`);
  }
  await clean();
  return { index, order, runs };
}

/** The system, deployed one way, on a fresh database and key prefix. */
async function runSystem(s: Settings, loadgen: ChildProcess, target: BenchRedis, pids: Pids, which: 'single' | 'split'): Promise<AdmissionRun> {
  const env = systemEnv(s);
  const log = (name: string, entry: string) => ({ env, nodeArgs: nodeArgs(s, entry), logFile: `${s.outDir}/admission-${name}.log` });
  const children: ChildProcess[] = [];
  try {
    let procs: Record<string, number | undefined>;
    if (which === 'single') {
      // scripts/start.ts applies the migrations itself, then runs the API and the workers.
      const one = startNode('scripts/start.ts', log('single', 'scripts/start.ts'));
      children.push(one);
      await waitHttp(s.port, '/readyz', one, 60_000);
      lowerPriority(one.pid, s.nice);
      procs = { system: one.pid };
    } else {
      await runNode('scripts/migrate.ts', env, `${s.outDir}/migrate.log`);
      const workers = startNode('workers/main.ts', log('workers', 'workers/main.ts'));
      const api = startNode('api/main.ts', log('api', 'api/main.ts'));
      children.push(api, workers);
      await waitHttp(s.port, '/readyz', api);
      lowerPriority(api.pid, s.nice);
      procs = { api: api.pid, workers: workers.pid };
    }
    const admin = adminClient(s);
    const product = await admin('POST', '/admin/products', {
      name: 'bench pure admission', price: 120, type: 'reserve', opensAt: new Date(Date.now() - 60_000).toISOString(), stock: STOCK, perUserLimit: 1,
    });
    const id = product.id as number;
    await admin('PUT', `/admin/products/${id}/rate`, { perSecond: 1 });
    const node = await target.nodeFor(new Keys(s.prefix).product(id).product);
    const measured = await timedRush(s, loadgen, s.port, `/products/${id}/purchases`, { ...pids, redis: await target.pidOf(node), ...procs }, which);
    const stats = await admin('GET', `/admin/products/${id}/stats`) as { tickets: Record<string, number> };
    return { ...measured, recorded: Object.values(stats.tickets).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0) };
  } finally {
    for (const child of children) await stop(child);
  }
}

/** A bare server (baseline-api.ts or baseline-evalsha.ts) under the bench's base prefix, one hash tag for its keys. */
async function runBare(s: Settings, loadgen: ChildProcess, target: BenchRedis, pids: Pids, which: 'bareQueue' | 'bareEval'): Promise<AdmissionRun> {
  const prefix = `${s.basePrefix}:{${which === 'bareQueue' ? 'base' : 'eval'}}`;
  const [script, args, probe] = which === 'bareQueue'
    ? ['bench/baseline-api.ts', [prefix, 'admit'], `${prefix}:admit:wait`]
    : ['bench/baseline-evalsha.ts', [prefix], `${prefix}:queued`];
  const bare = startNode(script, {
    args: [String(s.basePort), target.baselineTarget, ...args], logFile: `${s.outDir}/admission-bare.log`,
    nodeArgs: profileArgs(s, `${which}-${Date.now()}.cpuprofile`),
  });
  try {
    await waitHttp(s.basePort, '/healthz', bare);
    lowerPriority(bare.pid, s.nice);
    const node = await target.nodeFor(probe);
    const measured = await timedRush(s, loadgen, s.basePort, '/purchase', { ...pids, redis: await target.pidOf(node), bare: bare.pid }, which);
    const recorded = which === 'bareQueue' ? await node.llen(probe) : await node.zcard(probe);
    return { ...measured, recorded };
  } finally {
    await stop(bare);
    await target.deleteKeys(s.basePrefix);
  }
}

/** The timed rush: `--admission-seconds` of new buyers, `--concurrency` in flight, CPU measured over it. */
async function timedRush(
  s: Settings, loadgen: ChildProcess, port: number, path: string, pids: Record<string, number | undefined>, which: AdmissionTarget,
): Promise<Omit<AdmissionRun, 'recorded'>> {
  let sent = 0;
  const unsubscribe = onProgress(loadgen, (done) => { sent = done; });
  const startAt = Date.now() + 300;
  const progress = setInterval(() => {
    if (Date.now() >= startAt) line(`[admission ${which} ${((Date.now() - startAt) / 1000).toFixed(0).padStart(2)}s] requests ${sent}`);
  }, 1000);
  const meter = new CpuMeter(pids);
  try {
    await sleep(startAt - Date.now());
    meter.start();
    const rush = await task<RushResult>(loadgen, {
      type: 'rush', port, paths: [path], concurrency: s.concurrency, startAt, set: ADMISSION_SET.set, durationMs: s.admissionSeconds * 1000,
    });
    const cpu = meter.stop();
    const servers = Object.entries(cpu).reduce((n, [k, v]) => (CLIENTS.has(k) ? n : n + v), 0);
    const failures = Object.fromEntries(Object.entries(rush.outcomes).filter(([k]) => k !== '202'));
    return {
      rush, cpu, cpuPerRequestUs: rush.sent ? ((servers * rush.durationMs) / 1000 / rush.sent) * 1e6 : 0,
      accepted: rush.outcomes['202'] ?? 0, failures,
    };
  } finally {
    clearInterval(progress);
    unsubscribe();
  }
}
