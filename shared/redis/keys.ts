/**
 * Every Redis key and queue name is built here. Keys of one product share the hash tag
 * `{p:<id>}` so that a Redis Cluster keeps a drop's scripts atomic on one shard while
 * spreading different drops over shards.
 */
export type ProductKeys = {
  /** Hash: type, opensAt, qOpensAt, limit, total, available, reserved, sold, paused, seq, rate, mr (measured rate), evh (log chain), t_<status> and r_<refusal> counters. */
  product: string;
  /** Hash: userId → the user's live (non-terminal) ticket id. */
  live: string;
  /** Hash: userId → units reserved or paid (the per-user limit). */
  held: string;
  /** Sorted set: queued ticket ids (parked ones included) by order key (positions, sweeps). */
  queued: string;
  /** Sorted set: queued tickets parked until held units come back, by sequence. */
  waiting: string;
  /** Sorted set: reserved ticket ids by hold deadline (ms). */
  holds: string;
  /** Sorted set: queued tickets the stock worker has not looked at yet, by order key (it takes the head). */
  pending: string;
  /** Stream: the drop's event log, drained to MySQL (docs/event-log.md). */
  log: string;
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
      pending: `${base}pending`,
      log: `${base}log`,
      ticketPrefix: `${base}t:`,
    };
  }

  /** The fixed KEYS every product script receives, in contract order. */
  productScriptKeys(productId: number): string[] {
    const k = this.product(productId);
    return [k.product, k.live, k.held, k.queued, k.waiting, k.holds, k.pending, k.log];
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

  /**
   * The provider's rate bucket of a payment queue (PAYMENT_RATE_PER_SEC), shared by every
   * worker of it; on the queue's shard (`tag`: its hash tag).
   */
  chargeRate(tag: string, queue: string): string {
    return `${this.prefix}:{${tag}}:charge-rate:${queue}`;
  }

  /** Lock held while a product's state is rebuilt from MySQL. */
  rebuildLock(productId: number): string {
    return `${this.prefix}:{${productTag(productId)}}:rebuild`;
  }
}
