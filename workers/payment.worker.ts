import { setTimeout as sleep } from 'node:timers/promises';
import type { Job, Worker } from 'bullmq';
import type { PaymentProvider } from '../shared/payments/provider.ts';
import { queueTag, type PaymentJob, type TicketJob } from '../shared/queues/queues.ts';
import { PaymentDeclined, processPayment } from '../shared/domain/payment/pay.ts';
import { runJob, type TicketOutcome } from './instrumentation.ts';
import { newWorker, type WorkerContext } from './worker-kit.ts';

/** A job's tickets and their requests; a job of an earlier version carries one ticket. */
function ticketsOf(data: PaymentJob | TicketJob): { tickets: string[]; requests: Record<string, string> } {
  if ('tickets' in data) return { tickets: data.tickets, requests: data.requests ?? {} };
  return { tickets: [data.ticketId], requests: data.requestId ? { [data.ticketId]: data.requestId } : {} };
}

/**
 * A payment worker: a job carries the holds made together, and each ticket is paid on its
 * own (see processPayment), all at once, within the provider's limits: at most
 * `concurrency` charges of this worker in flight, and PAYMENT_RATE_PER_SEC charges a
 * second for the queue, over every worker (a token bucket in Redis, one call per job).
 * One job per group instead of one per ticket takes BullMQ's add, fetch and finish of a
 * job off each sale (bench/README.md, "A sale in the workers").
 *
 * A declined card ends its ticket (`payment_failed`) and is that ticket's outcome; the job
 * goes on. Tickets that met a transient failure stay in the job, alone, and it is retried
 * with backoff (PAYMENT_ATTEMPTS); the others are done.
 */
export function paymentWorker(ctx: WorkerContext, queue: string, concurrency: number): Worker<PaymentJob | TicketJob, TicketOutcome[]> {
  const { deps } = ctx;
  const charges = new Slots(concurrency);
  const bucket = deps.keys.chargeRate(queueTag(queue), queue);
  const limited: PaymentProvider = {
    async charge(req) {
      await charges.take();
      try {
        return await deps.provider.charge(req);
      } finally {
        charges.give();
      }
    },
    refund: (req) => deps.provider.refund(req),
    lookup: (key) => deps.provider.lookup(key),
  };
  return newWorker<PaymentJob | TicketJob, TicketOutcome[]>(ctx, queue, concurrency, async (job) => {
    const { tickets, requests } = ticketsOf(job.data);
    const failed: { ticketId: string; err: Error }[] = [];
    const outcomes = await runJob(ctx, queue, job as Job, async (jobDeps, attempt) => {
      const payDeps = { ...jobDeps, provider: limited };
      const final = attempt >= (job.opts.attempts ?? 1);
      const one = async (ticketId: string): Promise<TicketOutcome> => {
        const requestId = requests[ticketId];
        try {
          return { ticketId, requestId, outcome: await processPayment(payDeps, ticketId, attempt) };
        } catch (err) {
          if (err instanceof PaymentDeclined) return { ticketId, requestId, outcome: 'payment_failed' };
          failed.push({ ticketId, err: err as Error });
          jobDeps.logger.warn({ ticketId, requestId, attempt, err: (err as Error).message }, 'payment attempt failed');
          return { ticketId, requestId, outcome: final ? 'failed' : 'retried' };
        }
      };
      // Each ticket starts once the queue's rate has a token for it.
      const runs: Promise<TicketOutcome>[] = [];
      try {
        while (runs.length < tickets.length) {
          const { granted, waitMs } = await deps.scripts.takeTokens(bucket, deps.config.PAYMENT_RATE_PER_SEC, tickets.length - runs.length);
          for (const ticketId of tickets.slice(runs.length, runs.length + granted)) runs.push(one(ticketId));
          if (runs.length < tickets.length) await sleep(waitMs);
        }
      } catch (err) {
        // Redis went away between tokens: what started finishes, then the whole job is tried again.
        await Promise.all(runs);
        throw err;
      }
      return Promise.all(runs);
    }, (o) => o);
    if (failed.length === 0) return outcomes;
    const left = failed.map((f) => f.ticketId);
    await job.updateData({ tickets: left, requests: Object.fromEntries(left.filter((id) => requests[id]).map((id) => [id, requests[id]])) });
    throw new Error(`${failed.length} of ${tickets.length} payments failed (first: ${failed[0].err.message}); retrying those`);
  });
}

/**
 * At most `n` at once; the rest wait in order. In a drop thousands of charges can wait:
 * the line is read from a moving head (Array#shift moved every waiting entry each time:
 * 4-5 µs a sale in settle-cost's profile), and compacted once half of it is taken.
 */
export class Slots {
  private free: number;
  private waiting: (() => void)[] = [];
  private head = 0;

  constructor(n: number) {
    this.free = n;
  }

  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    if (this.head === this.waiting.length) {
      this.free++;
      return;
    }
    const next = this.waiting[this.head++];
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    next();
  }
}
