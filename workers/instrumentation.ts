import { RateLimitError, UnrecoverableError, type Job } from 'bullmq';
import type { Deps } from '../shared/deps.ts';
import type { WorkerMetrics } from '../shared/metrics.ts';
import type { PaymentProvider } from '../shared/payments/provider.ts';
import type { WorkerContext } from './worker-kit.ts';

/** What a job did for one ticket: its outcome, and for a batch which ticket and request. */
export type TicketOutcome = { outcome: string; ticketId?: string; requestId?: string };

/**
 * Runs one job attempt of a step: with a child logger carrying the job's `requestId`,
 * `jobId` and `ticketId` (so every line the step logs names the HTTP request that caused
 * it), timing it and counting its outcomes: one for a ticket's job, one per ticket
 * handled for a job that carries a batch (each logged with its own ticket and request).
 */
export async function runJob<D extends object, R>(
  ctx: WorkerContext, queue: string, job: Job<D, unknown>,
  step: (deps: Deps, attempt: number) => Promise<R>, outcomes: (result: R) => TicketOutcome[],
): Promise<R> {
  const { deps, metrics } = ctx;
  const data = job.data as { tickets?: string[] } & Record<string, unknown>;
  const logger = deps.logger.child({ queue, jobId: job.id, ...(data.tickets ? { tickets: data.tickets.length } : data) });
  if (job.attemptsMade === 0) {
    const readyAt = job.timestamp + (job.opts.delay ?? 0);
    metrics.jobWait.observe({ queue }, Math.max(0, ((job.processedOn ?? Date.now()) - readyAt) / 1000));
  }
  const done = metrics.jobProcessing.startTimer({ queue });
  logger.debug({ attempt: job.attemptsMade + 1 }, 'job started');
  try {
    const result = await step({ ...deps, logger }, job.attemptsMade + 1);
    done();
    const debug = logger.isLevelEnabled('debug');
    for (const { outcome, ticketId, requestId } of outcomes(result)) {
      metrics.jobs.inc({ queue, outcome });
      if (debug) (ticketId ? logger.child({ ticketId, requestId }) : logger).debug({ outcome }, 'job done');
    }
    return result;
  } catch (err) {
    done();
    if (err instanceof RateLimitError) throw err;
    const final = err instanceof UnrecoverableError || (err as Error).name === 'PaymentDeclined' || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    metrics.jobs.inc({ queue, outcome: final ? 'failed' : 'retried' });
    throw err;
  }
}

/** The payment provider, counting and timing every charge and refund. */
export function instrumentPayments(provider: PaymentProvider, metrics: WorkerMetrics): PaymentProvider {
  return {
    async charge(req) {
      const done = metrics.chargeDuration.startTimer();
      let result = 'error';
      try {
        const charged = await provider.charge(req);
        result = charged.outcome;
        return charged;
      } finally {
        done({ result });
        metrics.charges.inc({ result });
      }
    },
    async refund(req) {
      const refunded = await provider.refund(req);
      metrics.refunds.inc();
      return refunded;
    },
    lookup: (key) => provider.lookup(key),
  };
}
