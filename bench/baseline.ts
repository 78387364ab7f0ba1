import type { ChildProcess } from 'node:child_process';
import type { BenchRedis } from './redis-target.ts';
import type { RushResult } from './loadgen.ts';
import { summarizeProbes } from './prober.ts';
import { CpuMeter, lowerPriority, nextMessage, onProgress, peakRss, startGeneralBuyers, startNode, stop, task, waitHttp, type Pids } from './processes.ts';
import { jobFootprint, usedMemory } from './sampler.ts';
import type { Settings } from './settings.ts';
import { generalBuyerCount, line } from './settings.ts';
import type { Latency } from './stats.ts';

export type BaselineResult = {
  admission: RushResult;
  /** No-op jobs drained, and how long from the first request to the last completion. */
  drain: { jobs: number; seconds: number; perSecond: number };
  /** Bytes of a waiting job's hash and wait-list entry at the deepest point of the queue. */
  redisBytesPerWaitingJob: number;
  /** How much the whole instance grew per waiting job at that point. */
  redisGrowthPerWaitingJob: number;
  peakRss: { api: number; worker: number };
  /** Cores busy per process from the first request until the last job completed. */
  cpu: Record<string, number>;
  /**
   * General buyers on a second bare server (the bare shop) at the drop's rate: before the
   * rush, and from its start until the last job completed.
   */
  general: { idle: Latency; drop: Latency; failures: number };
};

const QUEUE = 'admit';
/** The bare shop's queue; nothing drains it (its few jobs go with the prefix). */
const GENERAL_QUEUE = 'general';

/**
 * The two baselines, run as one bare pipeline under the very load the drop gets: the
 * load generator rushes a bare Koa + `queue.add` server while a bare BullMQ worker
 * drains the no-op jobs it adds. Same machine, HTTP client, concurrency, buyer count
 * and worker concurrency as the drop; only the work per request and per job differs.
 * General buyers, as in the drop, use a second bare server (the bare shop, at the shop
 * API's priority) from `--idle-seconds` before the rush until the last job is done: how
 * much the least a queue-backed API can do slows down under the same rush on this machine.
 */
export async function runBaseline(s: Settings, loadgen: ChildProcess, target: BenchRedis, pids: Pids): Promise<BaselineResult> {
  const log = `${s.outDir}/baseline.log`;
  // One hash tag for the bare queues, as BullMQ needs on a cluster (harmless on one server).
  const prefix = `${s.basePrefix}:{base}`;
  const waitList = `${prefix}:${QUEUE}:wait`;
  const redis = await target.nodeFor(waitList);
  const worker = startNode('bench/baseline-worker.ts', {
    args: [target.baselineTarget, prefix, QUEUE, String(s.stockConcurrency)], logFile: log, ipc: true,
  });
  let api: ChildProcess | undefined;
  let shop: ChildProcess | undefined;
  let buyers: Awaited<ReturnType<typeof startGeneralBuyers>> | undefined;
  try {
    await nextMessage(worker, 'ready');
    api = startNode('bench/baseline-api.ts', { args: [String(s.basePort), target.baselineTarget, prefix, QUEUE], logFile: log });
    shop = startNode('bench/baseline-api.ts', { args: [String(s.bareShopPort), target.baselineTarget, prefix, GENERAL_QUEUE], logFile: log });
    await waitHttp(s.basePort, '/healthz', api);
    await waitHttp(s.bareShopPort, '/healthz', shop);
    lowerPriority(api.pid, s.nice);
    buyers = await startGeneralBuyers({
      port: s.bareShopPort, productId: 0, secret: s.jwtSecret, perSecond: s.generalRate,
      count: generalBuyerCount(s), logFile: `${s.outDir}/general-buyers.log`,
    });

    let completed = 0;
    let lastAt = 0;
    worker.on('message', (m: { type: string; completed: number; lastAt: number }) => {
      if (m.type === 'progress') ({ completed, lastAt } = m);
    });
    let sent = 0;
    const unsubscribe = onProgress(loadgen, (done) => { sent = done; });
    const memBefore = await usedMemory(redis);
    let peakWaiting = 0;
    let peakBytes = 0;
    let footprint = 0;
    const { idleFrom } = buyers;
    const startAt = idleFrom + s.idleSeconds * 1000;
    const sampler = setInterval(() => {
      void Promise.all([usedMemory(redis), redis.llen(waitList)]).then(async ([mem, waiting]) => {
        if (waiting <= peakWaiting) return;
        const measure = waiting > 1.1 * peakWaiting;
        [peakWaiting, peakBytes] = [waiting, mem - memBefore];
        if (measure) footprint = (await jobFootprint(redis, waitList, `${prefix}:${QUEUE}:`)) || footprint;
      });
    }, 100);
    const progress = setInterval(() => {
      if (Date.now() < startAt) {
        line(`[baseline] general buyers ${s.generalRate}/s on the bare shop (idle), rush in ${((startAt - Date.now()) / 1000).toFixed(0)}s`);
        return;
      }
      const t = ((Date.now() - startAt) / 1000).toFixed(0).padStart(3);
      line(`[baseline ${t}s] requests ${sent}/${s.buyers} · no-op jobs done ${completed} · waiting ${peakWaiting ? 'peak ' + peakWaiting : '-'}`);
    }, 1000);

    const cpu = new CpuMeter({ ...pids, redis: await target.pidOf(redis), api: api.pid, worker: worker.pid, shop: shop.pid });
    await new Promise((r) => setTimeout(r, startAt - Date.now()));
    cpu.start();
    const admission = await task<RushResult>(loadgen, {
      type: 'rush', port: s.basePort, paths: ['/purchase'], concurrency: s.concurrency, startAt,
    });
    const deadline = Date.now() + s.timeoutS * 1000;
    while (completed < admission.admitted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const cores = cpu.stop();
    const drainedAt = Date.now();
    const probes = await buyers.stop();
    buyers = undefined;
    clearInterval(progress);
    clearInterval(sampler);
    unsubscribe();
    if (completed < admission.admitted) throw new Error(`bare worker drained ${completed} of ${admission.admitted} jobs in time`);
    const seconds = (lastAt - startAt) / 1000;
    return {
      admission,
      drain: { jobs: completed, seconds, perSecond: completed / seconds },
      redisBytesPerWaitingJob: footprint,
      redisGrowthPerWaitingJob: peakWaiting ? peakBytes / peakWaiting : 0,
      peakRss: { api: peakRss(api.pid), worker: peakRss(worker.pid) },
      cpu: cores,
      general: summarizeProbes(probes, { idle: [idleFrom, startAt], drop: [startAt, drainedAt] }),
    };
  } finally {
    await buyers?.stop().catch(() => []);
    await stop(shop);
    await stop(api);
    await stop(worker);
  }
}
