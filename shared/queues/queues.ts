import { createHash } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { ProductType } from '../db/entities/product.entity.ts';
import type { RedisClient } from '../redis/client.ts';
import { productTag } from '../redis/keys.ts';

/**
 * Queue names, payloads and job options. Each drop has its own admission queue (its own
 * rate, its own depth on the dashboard) and its own payment queue; general products share
 * one of each, so a drop's backlog never sits in front of them. Job ids are derived from
 * the ticket or the group of tickets, so adding the same step twice is a no-op.
 *
 * Every queue's keys share one hash tag (BullMQ's prefix carries it), so a Redis Cluster
 * keeps each queue's scripts atomic on one shard: a drop's two queues carry the drop's own
 * tag, so its stock, tickets and queues live (and, should that shard lose its data, die
 * and come back) together, and different drops spread over the shards. Per-drop payment
 * queues, rather than one shared queue, keep the payment traffic of a drop on its shard
 * beside the settle scripts it feeds, and spread it as the drops are spread; general
 * products and expiries have tags of their own. Payment and expiry jobs carry a group of
 * holds each.
 */
export const GENERAL_QUEUE = 'general';
export const GENERAL_PAYMENT_QUEUE = 'payment-general';
export const EXPIRY_QUEUE = 'expiry';

export const reserveQueueName = (productId: number) => `reserve-${productId}`;
export const dropPaymentQueueName = (productId: number) => `payment-${productId}`;
export const admissionQueueName = (type: ProductType, productId: number) =>
  type === 'reserve' ? reserveQueueName(productId) : GENERAL_QUEUE;
export const paymentQueueName = (type: ProductType, productId: number) =>
  type === 'reserve' ? dropPaymentQueueName(productId) : GENERAL_PAYMENT_QUEUE;

/** The hash tag of a queue's keys: its drop's, or the shared queue's own. */
export function queueTag(name: string): string {
  const drop = /^(?:reserve|payment)-([1-9][0-9]*)$/.exec(name);
  if (drop) return productTag(Number(drop[1]));
  return name === EXPIRY_QUEUE ? 'expiry' : 'general';
}

/** A ticket and the id of the HTTP request that caused it (a payment job of an earlier version). */
export type TicketJob = { ticketId: string; requestId?: string };
/**
 * An admission job carries a batch of one product's tickets, in admission order (see
 * AdmissionBatches); each ticket keeps its own request id. An expiry job carries the
 * holds made together.
 */
export type TicketsJob = { tickets: string[] };
/**
 * A payment job carries the holds made together (one reserve call's, a handing-on's), each
 * with the id of the HTTP request that admitted it (`requests`, by ticket, where known).
 */
export type PaymentJob = TicketsJob & { requests?: Record<string, string> };
export type AnyJob = TicketJob | TicketsJob | PaymentJob;

export function paymentJobId(ticketIds: string[]): string {
  if (ticketIds.length === 1) return `pay-${ticketIds[0]}`;
  const digest = createHash('sha256').update(ticketIds.join(',')).digest('base64url').slice(0, 16);
  return `pay-${ticketIds[0]}+${ticketIds.length - 1}-${digest}`;
}

const retried = (attempts: number): JobsOptions => ({
  attempts,
  backoff: { type: 'exponential', delay: 250 },
  removeOnComplete: { count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600 },
});

export const jobOptions = {
  /**
   * Admission jobs are removed once done: the tickets keep the outcome, and keeping the
   * last 1,000 costs a trim of the completed set on every completion. Failed ones are
   * kept (they are rare: each step is retried 15 times).
   */
  admission: (jobId: string): JobsOptions => ({
    attempts: 15,
    backoff: { type: 'exponential', delay: 250 },
    removeOnComplete: true,
    jobId,
  }),
  /**
   * Named after its tickets: `pay-<ticket>` for one, `pay-<first>+<more>-<digest of all>`
   * for a group, so that handing the same group on again adds nothing, and a different
   * group (one of its tickets handed on again with others) gets a job of its own.
   */
  payment: (ticketIds: string[], attempts: number): JobsOptions => ({ ...retried(attempts), jobId: paymentJobId(ticketIds) }),
  /** One per group of holds made together, named after its first ticket. */
  expiry: (ticketId: string, delayMs: number): JobsOptions => ({
    ...retried(15),
    removeOnComplete: true,
    jobId: `exp-${ticketId}`,
    delay: Math.max(0, delayMs),
  }),
};

/** The BullMQ prefix of a queue: the key prefix with the queue's hash tag (see queueTag). */
export const queuePrefix = (keyPrefix: string, name: string) => `${keyPrefix}:{${queueTag(name)}}`;

/** Producer-side queues, created on first use and shared by the whole process. */
export class Queues {
  private readonly connection: RedisClient;
  private readonly prefix: string;
  private readonly byName = new Map<string, Queue<AnyJob>>();

  constructor(connection: RedisClient, prefix: string) {
    this.connection = connection;
    this.prefix = prefix;
  }

  /** Any queue by name (the dashboards and metrics read every queue's counts). */
  get(name: string): Queue<AnyJob> {
    let queue = this.byName.get(name);
    if (!queue) {
      queue = new Queue<AnyJob>(name, { connection: this.connection, prefix: queuePrefix(this.prefix, name) });
      queue.on('error', () => {}); // connection errors surface on the calls themselves
      this.byName.set(name, queue);
    }
    return queue;
  }

  /** A product's admission queue: batches of its tickets for the stock worker. */
  admission(type: ProductType, productId: number): Queue<TicketsJob> {
    return this.get(admissionQueueName(type, productId)) as Queue<TicketsJob>;
  }

  /** A product's payment queue (a drop's own, or the general products'): holds made together per job. */
  payment(type: ProductType, productId: number): Queue<PaymentJob> {
    return this.get(paymentQueueName(type, productId)) as Queue<PaymentJob>;
  }

  /** Expiry: one job per group of holds made together. */
  expiry(): Queue<TicketsJob> {
    return this.get(EXPIRY_QUEUE) as Queue<TicketsJob>;
  }

  all(): Queue<AnyJob>[] {
    return [...this.byName.values()];
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close()));
  }
}
