import { scanKeys, type RedisClient } from './client.ts';
import type { Keys } from './keys.ts';
import type { Scripts } from './scripts.ts';

/**
 * A ticket as its hash holds it (`<prefix>:{p:<id>}:t:<ticketId>`). This type and the Lua
 * scripts (lua/includes/product.lua) are the only places that know the fields:
 * `status`, `user`, `qty`, `pm` (payment method), `seq` (admission order), `created`,
 * `updated`, `resAt` (when units were held), `order` (its order id), `rid` (the request
 * that admitted it), `reason`, `job` (its admission job), `pay` (its payment job),
 * `promoted` (tickets it handed units to).
 */
export type TicketRecord = {
  status: string;
  userId: string;
  quantity: number;
  paymentMethod: string;
  seq: number;
  createdAt: number;
  updatedAt: number;
  heldAtMs: number | null;
  orderId: number | null;
  requestId: string | null;
  reason: string | null;
  jobId: string | null;
  payJob: string | null;
  promoted: string[];
};

/** A ticket hash that outlived its product's state (see TicketStore.survivors). */
export type Survivor = {
  ticketId: string; status: string; userId: string; quantity: number; paymentMethod: string; orderKey: string; requestId: string | null; orderId: number | null;
};

function parse(h: Record<string, string>): TicketRecord | null {
  if (!h.status) return null;
  const num = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v));
  return {
    status: h.status,
    userId: h.user ?? '',
    quantity: Number(h.qty ?? 0),
    paymentMethod: h.pm ?? '',
    seq: Number(h.seq ?? 0),
    createdAt: Number(h.created ?? 0),
    updatedAt: Number(h.updated ?? h.created ?? 0),
    heldAtMs: num(h.resAt),
    orderId: num(h.order),
    requestId: h.rid || null,
    reason: h.reason || null,
    jobId: h.job || null,
    payJob: h.pay || null,
    promoted: (h.promoted ?? '').split(',').filter(Boolean),
  };
}

/** Tickets in Redis: reads and the few writes made outside the Lua scripts. */
export class TicketStore {
  private readonly redis: RedisClient;
  private readonly keys: Keys;
  private readonly scripts: Scripts;

  constructor(redis: RedisClient, keys: Keys, scripts: Scripts) {
    this.redis = redis;
    this.keys = keys;
    this.scripts = scripts;
  }

  /** The ticket, or null when Redis does not have it (never issued, expired, or lost). */
  async get(productId: number, ticketId: string): Promise<TicketRecord | null> {
    return parse(await this.redis.hgetall(this.keys.ticket(productId, ticketId)));
  }

  async status(productId: number, ticketId: string): Promise<string | null> {
    return this.redis.hget(this.keys.ticket(productId, ticketId), 'status');
  }

  /**
   * The ticket with its place in the queue, the product's admission rate (configured and
   * measured), its opening instant, the pre-queue's size and the shard's clock: one round trip.
   */
  async withPlace(productId: number, ticketId: string): Promise<{
    ticket: TicketRecord | null; rank: number | null; speed: { ratePerSecond: number; measuredPerSecond: number };
    opensAtMs: number; preQueued: number; nowMs: number;
  }> {
    const { fields, rank, rate: [rate, measured, opensAt], preQueued, nowMs } = await this.scripts.ticketPlace(productId, ticketId);
    return {
      ticket: parse(fields),
      rank,
      speed: { ratePerSecond: Number(rate ?? 0), measuredPerSecond: Number(measured ?? 0) },
      opensAtMs: Number(opensAt ?? -1),
      preQueued,
      nowMs,
    };
  }

  /** A reserved ticket's status and hold deadline (ms; null when it has none). */
  async hold(productId: number, ticketId: string): Promise<{ status: string | null; deadlineMs: number | null }> {
    const [deadline, status] = await Promise.all([
      this.redis.zscore(this.keys.product(productId).holds, ticketId),
      this.status(productId, ticketId),
    ]);
    return { status, deadlineMs: deadline === null ? null : Number(deadline) };
  }

  /** Records the orders of tickets handed on together and their payment job, only onto each ticket as it is (never creating a ticket of two fields). */
  setOrders(productId: number, orders: { ticketId: string; orderId: number }[], payJob: string): Promise<boolean[]> {
    return this.scripts.setOrders(productId, orders, payJob);
  }

  /** Holds whose deadline passed before `beforeMs`, oldest first. */
  overdueHolds(productId: number, beforeMs: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.product(productId).holds, '-inf', String(beforeMs), 'LIMIT', 0, limit);
  }

  /** The oldest queued tickets (parked ones included). */
  oldestQueued(productId: number, n: number): Promise<string[]> {
    return this.redis.zrange(this.keys.product(productId).queued, '0', String(n - 1));
  }

  /** When a queued ticket was admitted, its admission job, and whether it is parked. */
  async admission(productId: number, ticketId: string): Promise<{ createdAt: number | null; jobId: string | null; parked: boolean }> {
    const k = this.keys.product(productId);
    const [[created, job], parked] = await Promise.all([
      this.redis.hmget(k.ticketPrefix + ticketId, 'created', 'job'),
      this.redis.zscore(k.waiting, ticketId),
    ]);
    return { createdAt: created ? Number(created) : null, jobId: job || null, parked: parked !== null };
  }

  /**
   * The product's ticket hashes still in Redis, oldest first: a scan for its hash tag (on
   * every master of a cluster: only the one that holds the tag finds any).
   */
  async survivors(productId: number): Promise<Survivor[]> {
    const prefix = this.keys.product(productId).ticketPrefix;
    const found: Survivor[] = [];
    for await (const { node, keys } of scanKeys(this.redis, `${prefix}*`)) {
      const tickets = await Promise.all(keys.map((k) => node.hgetall(k)));
      keys.forEach((k, i) => {
        const t = parse(tickets[i]);
        if (t?.userId) {
          found.push({ ticketId: k.slice(prefix.length), status: t.status, userId: t.userId, quantity: t.quantity, paymentMethod: t.paymentMethod,
            orderKey: tickets[i].seq ?? '0', requestId: t.requestId, orderId: t.orderId });
        }
      });
    }
    return found.sort((a, b) => Number(a.orderKey) - Number(b.orderKey));
  }
}
