/**
 * Every Redis key and queue name is built here. Keys of one product share the hash tag
 * `{p:<id>}` so that a Redis Cluster keeps a drop's scripts atomic on one shard while
 * spreading different drops over shards.
 */
export type ProductKeys = {
  /** Hash: type, opensAt, limit, total, available, reserved, sold, paused, seq, t_<status> counters. */
  product: string;
  /** Hash: userId → the user's live (non-terminal) ticket id. */
  live: string;
  /** Hash: userId → units reserved or paid (the per-user limit). */
  held: string;
  /** Sorted set: queued ticket ids by admission sequence (positions, sweeps). */
  queued: string;
  /** Sorted set: queued tickets parked until held units come back, by sequence. */
  waiting: string;
  /** Sorted set: reserved ticket ids by hold deadline (ms). */
  holds: string;
  /** Prefix of ticket hashes: `<ticketPrefix><ticketId>`. */
  ticketPrefix: string;
};

/** The hash tag every key of one product shares (its queues' included). */
export const productTag = (productId: number) => `p:${productId}`;

export class Keys {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  product(productId: number): ProductKeys {
    const base = `${this.prefix}:{${productTag(productId)}}:`;
    return {
      product: `${base}product`,
      live: `${base}live`,
      held: `${base}held`,
      queued: `${base}queued`,
      waiting: `${base}waiting`,
      holds: `${base}holds`,
      ticketPrefix: `${base}t:`,
    };
  }

  /** The fixed KEYS every product script receives, in contract order. */
  productScriptKeys(productId: number): string[] {
    const k = this.product(productId);
    return [k.product, k.live, k.held, k.queued, k.waiting, k.holds];
  }

  ticket(productId: number, ticketId: string): string {
    return `${this.product(productId).ticketPrefix}${ticketId}`;
  }

  idempotency(productId: number, userId: string, key: string): string {
    return `${this.prefix}:{${productTag(productId)}}:idem:${userId}:${key}`;
  }

  userRate(productId: number, userId: string): string {
    return `${this.prefix}:{${productTag(productId)}}:rl:${userId}`;
  }

  /** Set of product ids whose state is loaded in Redis (workers discover queues here). */
  products(): string {
    return `${this.prefix}:products`;
  }

  /** Lock held while a product's state is rebuilt from MySQL. */
  rebuildLock(productId: number): string {
    return `${this.prefix}:{${productTag(productId)}}:rebuild`;
  }
}
