import { UnrecoverableError, type Job } from 'bullmq';
import type { Deps } from '../shared/deps.ts';
import type { WorkerMetrics } from '../shared/metrics.ts';
import type { PaymentProvider } from '../shared/payments/provider.ts';
import type { TicketJob } from '../shared/queues.ts';

type Step = (deps: Deps, ticketId: string, attempt: number) => Promise<string>;

/**
 * Runs one job attempt of a step: with a child logger carrying the job's `requestId`,
 * `jobId` and `ticketId` (so every line the step logs names the HTTP request that caused
 * it), timing it and counting its outcome.
 */
export async function runJob(deps: Deps, metrics: WorkerMetrics, queue: string, job: Job<TicketJob>, step: Step) {
  const { ticketId, requestId } = job.data;
  const logger = deps.logger.child({ queue, jobId: job.id, requestId, ticketId });
  if (job.attemptsMade === 0) {
    const readyAt = job.timestamp + (job.opts.delay ?? 0);
    metrics.jobWait.observe({ queue }, Math.max(0, ((job.processedOn ?? Date.now()) - readyAt) / 1000));
  }
  const done = metrics.jobProcessing.startTimer({ queue });
  logger.debug({ attempt: job.attemptsMade + 1 }, 'job started');
  try {
    const outcome = await step({ ...deps, logger }, ticketId, job.attemptsMade + 1);
    done();
    metrics.jobs.inc({ queue, outcome });
    logger.debug({ outcome }, 'job done');
    return outcome;
  } catch (err) {
    done();
    const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
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
  };
}
