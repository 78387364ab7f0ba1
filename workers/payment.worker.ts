import { UnrecoverableError, type Worker } from 'bullmq';
import type { TicketJob } from '../shared/queues/queues.ts';
import { PaymentDeclined, processPayment } from '../shared/domain/payment/pay.ts';
import { runJob } from './instrumentation.ts';
import { newWorker, type WorkerContext } from './worker-kit.ts';

/**
 * A payment worker: one ticket per job (see processPayment). Transient failures are
 * retried with backoff (PAYMENT_ATTEMPTS); a declined card fails the job for good.
 */
export function paymentWorker(ctx: WorkerContext, queue: string, concurrency: number): Worker<TicketJob, string> {
  return newWorker<TicketJob, string>(ctx, queue, concurrency, async (job) => {
    try {
      return await runJob(ctx, queue, job, (deps, attempt) => processPayment(deps, job.data.ticketId, attempt), (outcome) => [{ outcome }]);
    } catch (err) {
      if (err instanceof PaymentDeclined) throw new UnrecoverableError(err.message);
      throw err;
    }
  });
}
