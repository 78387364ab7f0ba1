import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/** What is on sale. Live stock is in Redis; `totalStock` is the operator's number. */
export const ProductSchema = defineEntity({
  name: 'Product',
  tableName: 'products',
  properties: {
    id: p.integer().primary().autoincrement(),
    name: p.string().length(200),
    description: p.text().default(''),
    manufacturer: p.string().length(200).default(''),
    /** Minor units (cents) so sums never drift. */
    priceMinor: p.integer(),
    currency: p.string().length(3),
    type: p.enum(['reserve', 'general'] as const),
    /** UTC instant the product goes on sale (reserve products); null for general ones. */
    opensAt: p.datetime().length(3).nullable(),
    /** When a reserve product's pre-queue opens (before opensAt); null: no pre-queue. */
    queueOpensAt: p.datetime().length(3).nullable(),
    /**
     * The pre-queue lottery's seed (64 hex): secret until opensAt, then shown, so anyone
     * can recompute the order (docs/event-log.md). Null without a pre-queue.
     */
    lotterySeed: p.string().length(64).columnType('char(64)').nullable(),
    /** Units one buyer may hold; 0 means no limit. */
    perUserLimit: p.integer().default(1),
    totalStock: p.integer(),
    /**
     * Set by operators (pause, rate) and kept here as well as in Redis, so a rebuild
     * after Redis lost the product does not undo them. Null rate: ADMISSION_RATE_PER_SEC.
     */
    paused: p.boolean().default(false),
    admissionRatePerSec: p.integer().nullable(),
    /**
     * The product's live counters as Redis last had them (the janitor writes them every
     * few seconds): after Redis lost the product, what it held then is what was lost.
     */
    redisSnapshot: p.json<RedisSnapshot>().nullable(),
    createdAt: p.datetime().length(3).onCreate(() => new Date()),
    updatedAt: p.datetime().length(3).onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type Product = InferEntity<typeof ProductSchema>;

/** Live counters of a product in Redis at one instant (see Product.redisSnapshot). */
export type RedisSnapshot = { at: number; seq: number; tickets: Record<string, number> };
export type ProductType = Product['type'];
