import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import { ProductSchema, type Product } from '../db/entities/product.entity.ts';
import { DomainError, notFound } from '../errors.ts';
import type { Keys } from '../redis/keys.ts';
import type { Scripts } from '../redis/scripts.ts';
import type { Queues } from '../queues.ts';
import { LIVE_FIELDS, parseLive, type LiveState } from './product-state.ts';
import { SoldOutMemo } from './sold-out-memo.ts';
import { rebuildProduct, type Rebuilt } from './rebuild.ts';

const META_TTL_MS = 10_000;
const MISS_TTL_MS = 2_000;

type CacheEntry = { product: Product | null; until: number };

/**
 * Products: metadata from MySQL, cached in memory so admission never waits on MySQL;
 * live state (stock, opening instant, limit, pause, counters) in the Redis product
 * hash, loaded from the MySQL ledger on first use and after Redis lost it.
 */
export class Catalog {
  private readonly cache = new Map<number, CacheEntry>();
  private readonly refreshing = new Set<number>();
  /** Products seen truly sold out, answered at the door without Redis for a moment. */
  readonly soldOut = new SoldOutMemo();
  private readonly deps: { config: Config; orm: Orm; redis: Redis; keys: Keys; scripts: Scripts; queues: Queues };

  constructor(deps: Catalog['deps']) {
    this.deps = deps;
  }

  /**
   * Product metadata. A cached entry is answered at once, and refreshed in the
   * background once stale, so admission never waits on MySQL (nor fails while it is away).
   */
  async find(id: number): Promise<Product | null> {
    const hit = this.cache.get(id);
    if (!hit) return this.load(id);
    if (hit.until <= Date.now() && !this.refreshing.has(id)) {
      this.refreshing.add(id);
      this.load(id)
        .catch(() => {})
        .finally(() => this.refreshing.delete(id));
    }
    return hit.product;
  }

  private async load(id: number): Promise<Product | null> {
    const product = await this.deps.orm.em.fork().findOne(ProductSchema, { id });
    this.cache.set(id, { product, until: Date.now() + (product ? META_TTL_MS : MISS_TTL_MS) });
    return product;
  }

  /** The type of a product this process knows, without waiting (undefined when unknown). */
  typeOf(id: number): Product['type'] | undefined {
    return this.cache.get(id)?.product?.type;
  }

  async get(id: number): Promise<Product> {
    const product = await this.find(id);
    if (!product) throw notFound('Product');
    return product;
  }

  /** An operator created or changed the product: cache it, and ask Redis again about sell-outs. */
  remember(product: Product): void {
    this.cache.set(product.id, { product, until: Date.now() + META_TTL_MS });
    this.soldOut.forget(product.id);
  }

  /** Every product, refreshing the metadata cache (a listing changes no stock). */
  async list(): Promise<Product[]> {
    const products = await this.deps.orm.em.fork().find(ProductSchema, {}, { orderBy: { id: 'asc' } });
    const until = Date.now() + META_TTL_MS;
    products.forEach((product) => this.cache.set(product.id, { product, until }));
    return products;
  }

  /** Live state of several products and the shared clock, in one round trip. */
  async live(ids: number[]): Promise<{ states: (LiveState | null)[]; serverTimeMs: number }> {
    const pipeline = this.deps.redis.pipeline();
    ids.forEach((id) => pipeline.hmget(this.deps.keys.product(id).product, ...LIVE_FIELDS));
    pipeline.time();
    const replies = (await pipeline.exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    const [sec, micro] = replies[replies.length - 1][1] as [string, string];
    return {
      states: replies.slice(0, ids.length).map(([, v]) => parseLive(v as (string | null)[])),
      serverTimeMs: Number(sec) * 1000 + Math.floor(Number(micro) / 1000),
    };
  }

  /**
   * Makes sure the product's live state is in Redis: rebuilt from the MySQL ledger
   * (orders are the truth) when missing (see rebuildProduct). One process rebuilds; others
   * wait for it. Returns what this call's rebuild gave back, or null when it did not rebuild.
   */
  async ensureLoaded(product: Product): Promise<Rebuilt | null> {
    const { redis, keys } = this.deps;
    const k = keys.product(product.id);
    for (let attempt = 0; attempt < 50; attempt++) {
      if (await redis.hexists(k.product, 'total')) return null;
      const lock = await redis.set(keys.rebuildLock(product.id), '1', 'PX', 10_000, 'NX');
      if (lock) {
        try {
          return await rebuildProduct(this.deps, product);
        } finally {
          await redis.del(keys.rebuildLock(product.id));
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new DomainError('busy', 'The product is being prepared; try again shortly.', {}, 1);
  }
}
