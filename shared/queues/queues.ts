import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ProductType } from '../db/entities/product.entity.ts';

/**
 * Queue names, payloads and job options. Each reserve product has its own admission
 * queue (its own rate, its own depth on the dashboard); general products share one, so
 * a drop's backlog never sits in front of them. Job ids are derived from the ticket, so
 * adding the same step twice is a no-op.
 */
export const GENERAL_QUEUE = 'general';
export const PAYMENT_QUEUE = 'payment';
export const GENERAL_PAYMENT_QUEUE = 'payment-general';
export const EXPIRY_QUEUE = 'expiry';

export const reserveQueueName = (productId: number) => `reserve-${productId}`;
export const admissionQueueName = (type: ProductType, productId: number) =>
  type === 'reserve' ? reserveQueueName(productId) : GENERAL_QUEUE;
export const paymentQueueName = (type: ProductType) => (type === 'reserve' ? PAYMENT_QUEUE : GENERAL_PAYMENT_QUEUE);

/** Payment and expiry jobs carry their ticket and the id of the HTTP request that caused it. */
export type TicketJob = { ticketId: string; requestId?: string };
/**
 * An admission job carries a batch of one product's tickets, in admission order (see
 * AdmissionBatches); each ticket keeps its own request id. An expiry job carries the
 * holds made together.
 */
export type TicketsJob = { tickets: string[] };
export type AnyJob = TicketJob | TicketsJob;

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
  payment: (ticketId: string, attempts: number): JobsOptions => ({ ...retried(attempts), jobId: `pay-${ticketId}` }),
  /** One per group of holds made together, named after its first ticket. */
  expiry: (ticketId: string, delayMs: number): JobsOptions => ({
    ...retried(15),
    removeOnComplete: true,
    jobId: `exp-${ticketId}`,
    delay: Math.max(0, delayMs),
  }),
};

/** Producer-side queues, created on first use and shared by the whole process. */
export class Queues {
  private readonly connection: Redis;
  private readonly prefix: string;
  private readonly byName = new Map<string, Queue<AnyJob>>();

  constructor(connection: Redis, prefix: string) {
    this.connection = connection;
    this.prefix = prefix;
  }

  /** Any queue by name (the dashboards and metrics read every queue's counts). */
  get(name: string): Queue<AnyJob> {
    let queue = this.byName.get(name);
    if (!queue) {
      queue = new Queue<AnyJob>(name, { connection: this.connection, prefix: this.prefix });
      queue.on('error', () => {}); // connection errors surface on the calls themselves
      this.byName.set(name, queue);
    }
    return queue;
  }

  /** A product's admission queue: batches of its tickets for the stock worker. */
  admission(type: ProductType, productId: number): Queue<TicketsJob> {
    return this.get(admissionQueueName(type, productId)) as Queue<TicketsJob>;
  }

  /** The payment queue of a product type: one ticket per job. */
  payment(type: ProductType): Queue<TicketJob> {
    return this.get(paymentQueueName(type)) as Queue<TicketJob>;
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
