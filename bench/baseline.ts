import type { ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import type { RushResult } from './loadgen.ts';
import { CpuMeter, lowerPriority, nextMessage, onProgress, peakRss, startNode, stop, task, waitHttp, type Pids } from './processes.ts';
import { jobFootprint, usedMemory } from './sampler.ts';
import type { Settings } from './settings.ts';
import { line } from './settings.ts';

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
};

const QUEUE = 'admit';

/**
 * The two baselines, run as one bare pipeline under the very load the drop gets: the
 * load generator rushes a bare Koa + `queue.add` server while a bare BullMQ worker
 * drains the no-op jobs it adds. Same machine, HTTP client, concurrency, buyer count
 * and worker concurrency as the drop; only the work per request and per job differs.
 */
export async function runBaseline(s: Settings, loadgen: ChildProcess, redis: Redis, pids: Pids): Promise<BaselineResult> {
  const log = `${s.outDir}/baseline.log`;
  const worker = startNode('bench/baseline-worker.ts', {
    args: [s.redisUrl, s.basePrefix, QUEUE, String(s.stockConcurrency)], logFile: log, ipc: true,
  });
  let api: ChildProcess | undefined;
  try {
    await nextMessage(worker, 'ready');
    api = startNode('bench/baseline-api.ts', { args: [String(s.basePort), s.redisUrl, s.basePrefix, QUEUE], logFile: log });
    await waitHttp(s.basePort, '/healthz', api);
    lowerPriority(api.pid, s.nice);

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
    const waitList = `${s.basePrefix}:${QUEUE}:wait`;
    const startAt = Date.now() + 100;
    const sampler = setInterval(() => {
      void Promise.all([usedMemory(redis), redis.llen(waitList)]).then(async ([mem, waiting]) => {
        if (waiting <= peakWaiting) return;
        const measure = waiting > 1.1 * peakWaiting;
        [peakWaiting, peakBytes] = [waiting, mem - memBefore];
        if (measure) footprint = (await jobFootprint(redis, waitList, `${s.basePrefix}:${QUEUE}:`)) || footprint;
      });
    }, 100);
    const progress = setInterval(() => {
      const t = ((Date.now() - startAt) / 1000).toFixed(0).padStart(3);
      line(`[baseline ${t}s] requests ${sent}/${s.buyers} · no-op jobs done ${completed} · waiting ${peakWaiting ? 'peak ' + peakWaiting : '-'}`);
    }, 1000);

    const cpu = new CpuMeter({ ...pids, api: api.pid, worker: worker.pid });
    await new Promise((r) => setTimeout(r, startAt - Date.now()));
    cpu.start();
    const admission = await task<RushResult>(loadgen, {
      type: 'rush', port: s.basePort, path: '/purchase', concurrency: s.concurrency, startAt,
    });
    const deadline = Date.now() + s.timeoutS * 1000;
    while (completed < admission.admitted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const cores = cpu.stop();
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
    };
  } finally {
    await stop(api);
    await stop(worker);
  }
}
