import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import type { Scripts } from './scripts.ts';

/**
 * Products' live state in Redis, read outside the Lua scripts: fields of their hashes (the
 * Lua scripts and shared/domain/products/live-state.ts name them), the shared clock, the
 * registry of loaded products, and the lock a rebuild takes.
 */
export class ProductStore {
  private readonly redis: Redis;
  private readonly keys: Keys;
  private readonly scripts: Scripts;

  constructor(redis: Redis, keys: Keys, scripts: Scripts) {
    this.redis = redis;
    this.keys = keys;
    this.scripts = scripts;
  }

  /** The named fields of several products' hashes and the shared clock (Redis `TIME`), in one round trip. */
  async fields(ids: number[], fields: readonly string[]): Promise<{ values: (string | null)[][]; serverTimeMs: number }> {
    const pipeline = this.redis.pipeline();
    ids.forEach((id) => pipeline.hmget(this.keys.product(id).product, ...fields));
    pipeline.time();
    const replies = (await pipeline.exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    const [sec, micro] = replies[replies.length - 1][1] as [string, string];
    return {
      values: replies.slice(0, ids.length).map(([, v]) => v as (string | null)[]),
      serverTimeMs: Number(sec) * 1000 + Math.floor(Number(micro) / 1000),
    };
  }

  /** Whether each product's live state is in Redis (its hash has its total). */
  async loaded(ids: number[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    ids.forEach((id) => pipeline.hexists(this.keys.product(id).product, 'total'));
    return ((await pipeline.exec()) ?? []).map(([, v]) => v === 1);
  }

  /** Sets fields of a loaded product's hash (never creating a hash of one field); false when it is not loaded. */
  setLive(id: number, fields: Record<string, string | number>): Promise<boolean> {
    return this.scripts.setExisting(this.keys.product(id).product, 'total', fields);
  }

  /** Takes the lock a rebuild holds (true when taken), for at most `ms`. */
  async lock(id: number, ms: number): Promise<boolean> {
    return (await this.redis.set(this.keys.rebuildLock(id), '1', 'PX', ms, 'NX')) === 'OK';
  }

  async unlock(id: number): Promise<void> {
    await this.redis.del(this.keys.rebuildLock(id));
  }

  /** Adds a product to the registry of loaded products (workers discover drops here, and from MySQL). */
  async register(id: number): Promise<void> {
    await this.redis.sadd(this.keys.products(), String(id));
  }

  async registered(): Promise<number[]> {
    return (await this.redis.smembers(this.keys.products())).map(Number).filter(Number.isSafeInteger).sort((a, b) => a - b);
  }
}
