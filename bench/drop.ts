import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BenchRedis } from './redis-target.ts';
import { Keys } from '../shared/redis/keys.ts';
import { queuePrefix, reserveQueueName } from '../shared/queues/queues.ts';
import type { RushResult, VerifyResult } from './loadgen.ts';
import { summarizeProbes } from './prober.ts';
import { CpuMeter, lowerPriority, onProgress, peakRss, runNode, startGeneralBuyers, startNode, stop, task, waitHttp, type Pids } from './processes.ts';
import { DropSampler, DropsSampler, pendingJobs, type Footprint, type Sample } from './sampler.ts';
import { generalBuyerCount, line, nodeArgs, systemEnv, type Settings } from './settings.ts';
import type { Latency } from './stats.ts';

export type DropResult = {
  productId: number;
  /** Every drop of the run (--drops); stats, counters and checks cover them all. */
  productIds: number[];
  admission: RushResult;
  /** From opensAt until every admitted ticket is terminal. */
  allTerminalSeconds: number;
  /**
   * From opensAt until every buyer has a final answer (a terminal ticket, or 409 at the
   * door) and the admission queue is empty; buyers ÷ that time is the settle rate.
   */
  settledSeconds: number;
  settledPerSecond: number;
  general: { idle: Latency; drop: Latency; failures: number };
  peak: Sample;
  /** Bytes of the structures one waiting ticket lives in (see ticketFootprint). */
  redisBytesPerWaitingTicket: number;
  footprint: Footprint | null;
  /** How much the whole instance grew per waiting ticket at the peak (paid tickets, payment jobs and all). */
  redisGrowthPerWaitingTicket: number;
  peakRss: { api: number; workers: number };
  /** Cores busy per process during the rush, and from its end until settled. */
  cpu: { rush: Record<string, number>; settle: Record<string, number> };
  stats: AdminStats;
  verify: VerifyResult | null;
};

export type AdminStats = {
  stock: { total: number; available: number; reserved: number; sold: number };
  tickets: Record<string, number>;
  queue: Record<string, number>;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The system on its own ports, database and key prefix, deployed as docker-compose.yml
 * deploys it: the drop's API, the shop's API (general buyers; unless --one-api) and the
 * workers as separate processes, the drop's API at a lower CPU priority (--nice).
 */
export async function runDrop(s: Settings, loadgen: ChildProcess, redis: BenchRedis, pids: Pids): Promise<DropResult> {
  const env = systemEnv(s);
  await runNode('scripts/migrate.ts', env, `${s.outDir}/migrate.log`);
  const workers = startNode('workers/main.ts', { env, nodeArgs: nodeArgs(s, 'workers/main.ts'), logFile: `${s.outDir}/workers.log` });
  const api = startNode('api/main.ts', { env, nodeArgs: nodeArgs(s, 'api/main.ts'), logFile: `${s.outDir}/api.log` });
  const shop = s.shopApi
    ? startNode('api/main.ts', { env: { ...env, PORT: String(s.shopPort) }, nodeArgs: nodeArgs(s, 'api/main.ts'), logFile: `${s.outDir}/shop-api.log` })
    : undefined;
  const queues: Queue[] = [];
  try {
    await waitHttp(s.port, '/readyz', api);
    if (shop) await waitHttp(s.shopPort, '/readyz', shop);
    lowerPriority(api.pid, s.nice);
    return await drop(s, loadgen, redis, { ...pids, api: api.pid, ...(shop ? { shop: shop.pid } : {}), workers: workers.pid }, queues);
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    await stop(api);
    await stop(shop);
    await stop(workers);
  }
}

async function drop(
  s: Settings, loadgen: ChildProcess, target: BenchRedis, pids: Pids & { api?: number; shop?: number; workers?: number }, queues: Queue[],
): Promise<DropResult> {
  const admin = adminClient(s);
  const general = await admin('POST', '/admin/products', {
    name: 'bench general', price: 9.99, type: 'general', opensAt: null, stock: 10_000_000, perUserLimit: 0,
  });
  const opensAt = Date.now() + (s.idleSeconds + 2) * 1000;
  // --drops N: N drops opening together, the units shared out, buyers sent to each in turn.
  const productIds: number[] = [];
  for (let i = 0; i < s.drops; i++) {
    const units = Math.floor(s.units / s.drops) + (i < s.units % s.drops ? 1 : 0);
    const product = await admin('POST', '/admin/products', {
      name: `bench drop ${i + 1}`, price: 120, type: 'reserve', opensAt: new Date(opensAt).toISOString(), stock: units, perUserLimit: 1,
    });
    productIds.push(product.id as number);
  }
  const [productId] = productIds;

  const buyers = await startGeneralBuyers({
    port: s.shopApi ? s.shopPort : s.port, productId: general.id as number, secret: s.jwtSecret, perSecond: s.generalRate,
    count: generalBuyerCount(s), logFile: `${s.outDir}/general-buyers.log`,
  });
  line(`[drop] product${s.drops > 1 ? 's' : ''} ${productIds.join(', ')}: ${s.units} units open in ${((opensAt - Date.now()) / 1000).toFixed(1)}s; general buyers ${s.generalRate}/s (idle now)`);

  // Each drop's shard: its counters, memory and CPU (the one server, on one server).
  const shards: Redis[] = [];
  const samplers: DropSampler[] = [];
  for (const id of productIds) {
    const name = reserveQueueName(id);
    const queue = new Queue(name, { connection: target.client, prefix: queuePrefix(s.prefix, name) });
    queues.push(queue);
    const keys = new Keys(s.prefix).product(id);
    const node = await target.nodeFor(keys.product);
    if (!shards.includes(node)) shards.push(node);
    samplers.push(new DropSampler(node, keys, `${queue.opts.prefix}:${queue.name}:wait`, `${queue.opts.prefix}:${queue.name}:`));
  }
  const shardPids = await Promise.all(shards.map((node) => target.pidOf(node)));
  pids = { ...pids, ...Object.fromEntries(shardPids.map((pid, i) => [i ? `redis${i + 1}` : 'redis', pid])) };
  const sampler = new DropsSampler(samplers, shards.map((node) => samplers.find((x) => x.redis === node)!));
  await sleep(opensAt - 150 - Date.now());
  const memBefore = (await sampler.sample()).usedMemory;
  sampler.peak = null;
  sampler.start(100);

  let sent = 0;
  const unsubscribe = onProgress(loadgen, (done) => { sent = done; });
  let rushDone = false;
  let rushEndedAt = 0;
  let pending = -1;
  const progress = setInterval(() => {
    const l = sampler.last;
    if (!l) return;
    const t = ((Date.now() - opensAt) / 1000).toFixed(0).padStart(3);
    line(`[drop ${t}s] requests ${sent}/${s.buyers} · tickets queued ${l.queued} reserved ${l.reserved} paid ${l.paid} sold_out ${l.soldOut} · ` +
      `jobs left ${pending < 0 ? '?' : pending} · redis ${(l.usedMemory / 2 ** 20).toFixed(0)} MB`);
  }, 1000);

  const rushCpu = new CpuMeter(pids);
  const settleCpu = new CpuMeter(pids);
  const cpu = { rush: {}, settle: {} } as DropResult['cpu'];
  await sleep(opensAt + 20 - Date.now());
  rushCpu.start();
  const rushing = task<RushResult>(loadgen, {
    type: 'rush', port: s.port, paths: productIds.map((id) => `/products/${id}/purchases`), concurrency: s.concurrency, startAt: opensAt + 20,
  }).finally(() => {
    rushDone = true;
    rushEndedAt = Date.now();
    cpu.rush = rushCpu.stop();
    settleCpu.start();
  });
  let allTerminalAt = 0;
  let settledAt = 0;
  // The load generator ends the rush on its own (a fixed number of buyers, however slow the
  // machine); from its last answer the drop has `--timeout` seconds to settle.
  const deadline = () => (rushDone ? rushEndedAt : Date.now()) + s.timeoutS * 1000;
  while (!settledAt && Date.now() < deadline()) {
    await sleep(50);
    if (!rushDone) {
      // Sold out with nothing live, every ticket is terminal for good (a sold-out door makes
      // no more tickets), however long the load generator goes on being refused.
      const l = await sampler.sample();
      if (!allTerminalAt && l.queued === 0 && l.reserved === 0 && l.available === 0 && l.terminal > 0) allTerminalAt = l.at;
      continue;
    }
    const l = await sampler.sample();
    if (!allTerminalAt && l.queued === 0 && l.reserved === 0) allTerminalAt = l.at;
    pending = (await Promise.all(queues.map((q) => pendingJobs(q)))).reduce((a, b) => a + b, 0);
    if (allTerminalAt && pending === 0) settledAt = Date.now();
  }
  cpu.settle = settleCpu.stop();
  const admission = await rushing;
  clearInterval(progress);
  sampler.stop();
  unsubscribe();
  const probes = await buyers.stop();
  writeFileSync(`${s.outDir}/general-probes.tmp`, JSON.stringify({ opensAt, allTerminalAt: Math.max(allTerminalAt, rushEndedAt), probes }));
  if (!settledAt) throw new Error(`the drop did not settle within ${s.timeoutS}s of the rush's end (last: ${JSON.stringify(sampler.last)})`);

  const stats = sumStats(await Promise.all(productIds.map(async (id) => (await admin('GET', `/admin/products/${id}/stats`)) as unknown as AdminStats)));
  const verify = s.verify ? await task<VerifyResult>(loadgen, { type: 'verify', port: s.port, concurrency: s.concurrency }) : null;
  const peak = sampler.peak ?? sampler.last!;
  const settledSeconds = (settledAt - opensAt) / 1000;
  return {
    productId,
    productIds,
    admission,
    allTerminalSeconds: (allTerminalAt - opensAt) / 1000,
    settledSeconds,
    settledPerSecond: admission.sent / settledSeconds,
    general: summarizeProbes(probes, { idle: [buyers.idleFrom, opensAt], drop: [opensAt, Math.max(allTerminalAt, rushEndedAt)] }),
    peak,
    redisBytesPerWaitingTicket: sampler.footprint?.total ?? 0,
    footprint: sampler.footprint,
    redisGrowthPerWaitingTicket: peak.queued ? (peak.usedMemory - memBefore) / peak.queued : 0,
    peakRss: { api: peakRss(pids.api), workers: peakRss(pids.workers) },
    cpu,
    stats,
    verify,
  };
}

export function adminClient(s: Settings) {
  const auth = `Basic ${Buffer.from(`${s.adminUser}:${s.adminPassword}`).toString('base64')}`;
  return async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`http://127.0.0.1:${s.port}${path}`, {
      method,
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
}

/** The stats of several drops, added up. */
function sumStats(all: AdminStats[]): AdminStats {
  const add = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [k, v] of Object.entries(from)) if (typeof v === 'number') into[k] = (into[k] ?? 0) + v;
  };
  const out: AdminStats = { stock: { total: 0, available: 0, reserved: 0, sold: 0 }, tickets: {}, queue: {} };
  for (const one of all) {
    add(out.stock, one.stock);
    add(out.tickets, one.tickets);
    add(out.queue, one.queue);
  }
  return out;
}
