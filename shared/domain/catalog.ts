import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import { ProductSchema, type Product } from '../db/entities/product.entity.ts';
import { DomainError, notFound } from '../errors.ts';
import type { Keys } from '../redis/keys.ts';
import type { Scripts } from '../redis/scripts.ts';
import { reserveQueueName, type Queues } from '../queues.ts';
import { LIVE_FIELDS, parseLive, type LiveState } from './product-state.ts';
import { SoldOutMemo } from './sold-out-memo.ts';

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
   * (orders are the truth) when missing. One process rebuilds; others wait for it.
   */
  async ensureLoaded(product: Product): Promise<void> {
    const { redis, keys } = this.deps;
    const k = keys.product(product.id);
    for (let attempt = 0; attempt < 50; attempt++) {
      if (await redis.exists(k.product)) return;
      const lock = await redis.set(keys.rebuildLock(product.id), '1', 'PX', 10_000, 'NX');
      if (lock) {
        try {
          await this.rebuild(product);
        } finally {
          await redis.del(keys.rebuildLock(product.id));
        }
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new DomainError('busy', 'The product is being prepared; try again shortly.', {}, 1);
  }

  private async rebuild(product: Product): Promise<void> {
    const { orm, redis, keys, scripts, config, queues } = this.deps;
    const rows: { status: string; user_id: string; ticket_id: string; quantity: number }[] = await orm.em
      .getConnection()
      .execute('select status, user_id, ticket_id, quantity from orders where product_id = ?', [product.id]);
    // What operators set, read afresh: this process's cached row may predate a change made elsewhere.
    const [operator]: { paused: number | boolean; admission_rate_per_sec: number | null }[] = await orm.em
      .getConnection()
      .execute('select paused, admission_rate_per_sec from products where id = ?', [product.id]);
    const paused = Boolean(Number(operator?.paused ?? 0));
    const rate = operator?.admission_rate_per_sec ?? config.ADMISSION_RATE_PER_SEC;
    let sold = 0;
    let reserved = 0;
    const held = new Map<string, number>();
    const counts: Record<string, number> = { paid: 0, reserved: 0, payment_failed: 0, expired: 0 };
    const pending: typeof rows = [];
    for (const r of rows) {
      const status = { pending: 'reserved', paid: 'paid', failed: 'payment_failed', expired: 'expired' }[r.status]!;
      counts[status]++;
      if (r.status === 'paid') sold += r.quantity;
      if (r.status === 'pending') {
        reserved += r.quantity;
        pending.push(r);
      }
      if (r.status === 'paid' || r.status === 'pending') held.set(r.user_id, (held.get(r.user_id) ?? 0) + r.quantity);
    }
    const fields: Record<string, string | number> = {
      type: product.type,
      opensAt: product.type === 'reserve' && product.opensAt ? product.opensAt.getTime() : -1,
      limit: product.type === 'reserve' ? product.perUserLimit : 0,
      total: product.totalStock,
      available: Math.max(0, product.totalStock - sold - reserved),
      reserved,
      sold,
      paused: paused ? 1 : 0,
      seq: 0,
      rate,
      price: product.priceMinor,
      currency: product.currency,
      t_queued: 0,
      t_sold_out: 0,
      t_rejected: 0,
      ...Object.fromEntries(Object.entries(counts).map(([s, n]) => [`t_${s}`, n])),
    };
    const args = [Object.keys(fields).length, ...Object.entries(fields).flat(), ...[...held].flat()];
    const loaded = await scripts.run('init-product', keys.productScriptKeys(product.id), args);
    if (loaded === 1) await this.restoreHolds(product, pending);
    await redis.sadd(keys.products(), String(product.id));
    if (product.type === 'reserve') {
      const queue = queues.get(reserveQueueName(product.id));
      await queue.setGlobalRateLimit(rate, 1000);
      await (paused ? queue.pause() : queue.resume());
    }
  }

  /**
   * Pending orders whose tickets Redis forgot get their ticket back as `reserved`
   * with a fresh hold, so the expiry step returns their units if nobody pays.
   */
  private async restoreHolds(product: Product, pending: { user_id: string; ticket_id: string; quantity: number }[]) {
    if (pending.length === 0) return;
    const { redis, keys, config } = this.deps;
    const now = Date.now();
    const ticketKeys = pending.map((o) => keys.ticket(product.id, o.ticket_id));
    const exists = await Promise.all(ticketKeys.map((k) => redis.exists(k)));
    const pipeline = redis.pipeline();
    pending.forEach((o, i) => {
      if (exists[i]) return;
      pipeline.hset(ticketKeys[i], 'status', 'reserved', 'user', o.user_id, 'qty', o.quantity, 'pm', 'pm_card_ok',
        'resAt', now, 'created', now, 'updated', now);
      pipeline.zadd(keys.product(product.id).holds, 'NX', now + config.PAYMENT_HOLD_MS, o.ticket_id);
    });
    await pipeline.exec();
  }
}
