import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';

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

export class DropSampler {
  last: Sample | null = null;
  /** The sample with the most tickets waiting (status queued). */
  peak: Sample | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly redis: Redis;
  private readonly productKey: string;
  private readonly parkedKey: string;
  private readonly jobsKey: string;

  constructor(redis: Redis, keys: { product: string; waiting: string }, jobsWaitList: string) {
    this.redis = redis;
    this.productKey = keys.product;
    this.parkedKey = keys.waiting;
    this.jobsKey = jobsWaitList;
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
    if (!this.peak || s.queued > this.peak.queued) this.peak = s;
    return s;
  }

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

/** Jobs of a queue not yet processed (waiting, prioritized, active, delayed). */
export async function pendingJobs(queue: Queue): Promise<number> {
  const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
  return (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0) + (c.delayed ?? 0);
}
