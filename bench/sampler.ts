import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';

/** Samples every `everyMs` (after the previous sample is done) until stopped. */
abstract class Periodic {
  private timer: NodeJS.Timeout | undefined;

  abstract sample(): Promise<Sample>;

  start(everyMs: number): void {
    const tick = () => {
      this.sample().catch(() => {}).finally(() => {
        this.timer = setTimeout(tick, everyMs);
      });
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/**
 * Reads a drop's live counters and Redis memory straight from Redis every `everyMs`
 * (no load on the API), and keeps what the report needs: the peak of waiting tickets
 * with the memory in use at that moment, and when the drop finished.
 */
export type Sample = {
  at: number;
  queued: number;
  reserved: number;
  paid: number;
  soldOut: number;
  terminal: number;
  available: number;
  sold: number;
  usedMemory: number;
  /** Waiting tickets parked until held units come back (their admission job is done). */
  parked: number;
  /** Admission jobs not picked up yet. */
  jobsWaiting: number;
};

const FIELDS = ['t_queued', 't_reserved', 't_paid', 't_sold_out', 't_rejected', 't_payment_failed', 't_expired', 'available', 'reserved', 'sold'];

export async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

/** What one waiting ticket costs Redis, structure by structure (bytes, MEMORY USAGE). */
export type Footprint = { ticket: number; queues: number; live: number; job: number; total: number; waiting: number };

const usage = async (redis: Redis, key: string): Promise<number> => Number((await redis.memory('USAGE', key)) ?? 0);
const average = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/**
 * Measured on the structures a waiting ticket lives in, not on the whole instance (which
 * also holds the drop's paid tickets, payment jobs and event streams at that moment): a
 * sample of waiting tickets' hashes, each ticket's share of the queued, pending and parked sets
 * and of the live map, and its share of the admission jobs not picked up yet.
 */
export async function ticketFootprint(redis: Redis, keys: { queued: string; waiting: string; pending: string; live: string; ticketPrefix: string },
  jobsWaitList: string, jobPrefix: string): Promise<Footprint | null> {
  const waiting = await redis.zcard(keys.queued);
  if (waiting === 0) return null;
  const sample = (await redis.zrandmember(keys.queued, 20)) as unknown as string[];
  const tickets = await Promise.all(sample.map((id) => usage(redis, keys.ticketPrefix + id)));
  const [queued, parked, pending, live, liveCount] = await Promise.all([
    usage(redis, keys.queued), usage(redis, keys.waiting), usage(redis, keys.pending), usage(redis, keys.live), redis.hlen(keys.live),
  ]);
  const jobIds = await redis.lrange(jobsWaitList, 0, 9);
  const jobBytes = await Promise.all(jobIds.map((id) => usage(redis, jobPrefix + id)));
  const jobsWaiting = await redis.llen(jobsWaitList);
  const ticket = average(tickets);
  // A waiting ticket is in the queue, and in the pending set until the stock worker looks
  // at it or in the parked set after: all three are its share.
  const queues = (queued + parked + pending) / waiting;
  const liveShare = liveCount ? live / liveCount : 0;
  // The admission jobs not picked up yet, spread over the waiting tickets.
  const job = (average(jobBytes) * jobsWaiting) / waiting;
  return { ticket, queues, live: liveShare, job, total: ticket + queues + liveShare + job, waiting };
}

/** The same measure for a bare BullMQ job: its hash and its share of the wait list. */
export async function jobFootprint(redis: Redis, waitList: string, jobPrefix: string): Promise<number> {
  const ids = await redis.lrange(waitList, 0, 19);
  if (ids.length === 0) return 0;
  const [jobs, list, length] = await Promise.all([
    Promise.all(ids.map((id) => usage(redis, jobPrefix + id))), usage(redis, waitList), redis.llen(waitList),
  ]);
  return average(jobs) + list / length;
}

export class DropSampler extends Periodic {
  last: Sample | null = null;
  /** The sample with the most tickets waiting (status queued). */
  peak: Sample | null = null;
  readonly redis: Redis;
  private readonly productKey: string;
  private readonly parkedKey: string;
  private readonly jobsKey: string;

  /** The footprint of a waiting ticket, measured as the queue grew (at most every 10%). */
  footprint: Footprint | null = null;
  private readonly keys: { product: string; waiting: string; queued: string; pending: string; live: string; ticketPrefix: string };
  private readonly jobPrefix: string;

  constructor(redis: Redis, keys: DropSampler['keys'], jobsWaitList: string, jobPrefix: string) {
    super();
    this.redis = redis;
    this.keys = keys;
    this.productKey = keys.product;
    this.parkedKey = keys.waiting;
    this.jobsKey = jobsWaitList;
    this.jobPrefix = jobPrefix;
  }

  async sample(): Promise<Sample> {
    const replies = await this.redis.pipeline().hmget(this.productKey, ...FIELDS).info('memory')
      .zcard(this.parkedKey).llen(this.jobsKey).exec();
    const v = (replies![0][1] as (string | null)[]).map((x) => Number(x ?? 0));
    const s: Sample = {
      at: Date.now(),
      queued: v[0],
      reserved: v[1],
      paid: v[2],
      soldOut: v[3],
      terminal: v[2] + v[3] + v[4] + v[5] + v[6],
      available: v[7],
      sold: v[9],
      usedMemory: Number(/used_memory:(\d+)/.exec(replies![1][1] as string)![1]),
      parked: replies![2][1] as number,
      jobsWaiting: replies![3][1] as number,
    };
    this.last = s;
    if (!this.peak || s.queued > this.peak.queued) {
      this.peak = s;
      if (s.queued > 1.1 * (this.footprint?.waiting ?? 0)) {
        this.footprint = (await ticketFootprint(this.redis, this.keys, this.jobsKey, this.jobPrefix)) ?? this.footprint;
      }
    }
    return s;
  }

}

/**
 * Several drops' samplers as one (--drops): counters added up, the memory of each shard
 * counted once (`perShard`: one sampler per shard); a waiting ticket's footprint is the
 * first drop's.
 */
export class DropsSampler extends Periodic {
  last: Sample | null = null;
  peak: Sample | null = null;
  private readonly drops: DropSampler[];
  private readonly perShard: DropSampler[];

  constructor(drops: DropSampler[], perShard: DropSampler[]) {
    super();
    this.drops = drops;
    this.perShard = perShard;
  }

  get footprint(): Footprint | null {
    return this.drops[0].footprint;
  }

  async sample(): Promise<Sample> {
    const all = await Promise.all(this.drops.map((d) => d.sample()));
    const sum = (k: keyof Sample) => all.reduce((n, x) => n + x[k], 0);
    const s: Sample = {
      at: Date.now(), queued: sum('queued'), reserved: sum('reserved'), paid: sum('paid'), soldOut: sum('soldOut'),
      terminal: sum('terminal'), available: sum('available'), sold: sum('sold'), parked: sum('parked'), jobsWaiting: sum('jobsWaiting'),
      usedMemory: this.perShard.reduce((n, d) => n + (d.last?.usedMemory ?? 0), 0),
    };
    this.last = s;
    if (!this.peak || s.queued > this.peak.queued) this.peak = s;
    return s;
  }

}

/** Jobs of a queue not yet processed (waiting, prioritized, active, delayed). */
export async function pendingJobs(queue: Queue): Promise<number> {
  const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
  return (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0) + (c.delayed ?? 0);
}
