import type { Redis } from 'ioredis';
import type { Keys } from '../shared/redis/keys.ts';
import type { AdmitRequest } from '../shared/redis/scripts.ts';

/**
 * A drop straight in Redis for the scripts' cost benches (lua-cost, drain-cost): open, 5,000,000
 * units, a limit of 1, so every admit of a new buyer creates a ticket; `admitRequest(n)` is
 * buyer n's purchase of it.
 */
export async function openUnlimitedDrop(redis: Redis, keys: Keys, productId: number): Promise<void> {
  await redis.hset(keys.product(productId).product, {
    total: 5_000_000, opensAt: 0, paused: 0, available: 5_000_000, reserved: 0, limit: 1, t_queued: 0, rate: 1, seq: 0,
  });
}

export function admitRequest(productId: number, n: number): AdmitRequest {
  return { productId, ticketId: `t${n}`, userId: `u${n}`, quantity: 1, paymentMethod: 'pm_card_visa', requestId: `r${n}`,
    userRatePerSec: 5, maxQueued: 10_000_000, idempotencyTtlS: 86_400, jobId: 'job-1' };
}
