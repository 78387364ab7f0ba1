import { isCluster, masters, nodeKey, ownersOf, slotOwners, type RedisClient } from './client.ts';
import type { Keys } from './keys.ts';
import { timeMs, type ReadFields, type Scripts } from './scripts.ts';

/**
 * Products' live state in Redis, read outside the Lua scripts: fields of their hashes (the
 * Lua scripts and shared/domain/products/live-state.ts name them), the shared clock, the
 * registry of loaded products, and the lock a rebuild takes.
 */
export class ProductStore {
  private readonly redis: RedisClient;
  private readonly keys: Keys;
  private readonly scripts: Scripts;

  constructor(redis: RedisClient, keys: Keys, scripts: Scripts) {
    this.redis = redis;
    this.keys = keys;
    this.scripts = scripts;
  }

  /**
   * The named fields of several products' hashes, each with the clock of the shard that
   * holds it (its "is it open" clock). On one server there is one clock: its `TIME` once
   * and a plain `HMGET` per product, all in one pipeline (a catalogue of thousands is one
   * write, and Redis runs no script per product). On a Redis Cluster the products live on
   * different shards: one read-fields.lua call each, with its shard's clock.
   */
  async fields(ids: number[], fields: readonly string[]): Promise<ReadFields[]> {
    const redis = this.redis;
    if (ids.length <= 1 || fields.length === 0 || isCluster(redis)) return Promise.all(ids.map((id) => this.scripts.readFields(id, fields)));
    const pipeline = redis.pipeline().time();
    for (const id of ids) pipeline.hmget(this.keys.product(id).product, ...fields);
    const results = (await pipeline.exec()) ?? [];
    const replies = results.map(([err, reply]) => {
      if (err) throw err;
      return reply;
    });
    const [sec, micro] = replies[0] as [string, string];
    const serverTimeMs = timeMs(sec, micro);
    return ids.map((_, i) => ({ values: replies[i + 1] as (string | null)[], serverTimeMs }));
  }

  /**
   * On a Redis Cluster: the master (`host:port`) that holds each product's keys, or would
   * hold a product with that id, and every master; null on one server.
   */
  async shards(ids: number[]): Promise<{ owners: string[]; masters: string[] } | null> {
    const cluster = this.redis;
    if (!isCluster(cluster)) return null;
    return { owners: await ownersOf(cluster, ids.map((id) => this.keys.product(id).product)), masters: slotOwners(cluster) };
  }

  /** Whether each product's live state is in Redis (its hash has its total). */
  async loaded(ids: number[]): Promise<boolean[]> {
    return Promise.all(ids.map(async (id) => (await this.redis.hexists(this.keys.product(id).product, 'total')) === 1));
  }

  /** Sets fields of a loaded product's hash (never creating a hash of one field); false when it is not loaded. */
  setLive(id: number, fields: Record<string, string | number>): Promise<boolean> {
    return this.scripts.setExisting(this.keys.product(id).product, 'total', fields);
  }

  /**
   * Each master's clock against this process's (ms; half the round trip taken off). On a
   * Redis Cluster every drop opens by its own shard's clock: the spread between these is
   * how far apart two drops set to open at the same instant can open.
   */
  /** Adds refusals the door answered from memory to the drop's counts (drained with its event log). */
  async addRefusals(id: number, counts: Record<string, number>): Promise<void> {
    const key = this.keys.product(id).product;
    const pipeline = this.redis.pipeline();
    for (const [code, n] of Object.entries(counts)) pipeline.hincrby(key, `r_${code}`, n);
    await pipeline.exec();
  }

  async clocks(): Promise<{ node: string; offsetMs: number; roundTripMs: number }[]> {
    return Promise.all(masters(this.redis).map(async (node) => {
      const sent = performance.timeOrigin + performance.now();
      const [sec, micro] = await node.time();
      const received = performance.timeOrigin + performance.now();
      const at = Number(sec) * 1000 + Number(micro) / 1000;
      return { node: nodeKey(node), offsetMs: Math.round((at - (sent + received) / 2) * 10) / 10,
        roundTripMs: Math.round((received - sent) * 10) / 10 };
    }));
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

  /** Those of `ids` the registry does not list. */
  async unregistered(ids: number[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const member = await this.redis.smismember(this.keys.products(), ...ids.map(String));
    return ids.filter((_, i) => member[i] === 0);
  }

  async registered(): Promise<number[]> {
    return (await this.redis.smembers(this.keys.products())).map(Number).filter(Number.isSafeInteger).sort((a, b) => a - b);
  }
}
