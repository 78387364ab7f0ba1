import type { Worker } from 'bullmq';
import { EXPIRY_QUEUE, type TicketsJob } from '../shared/queues/queues.ts';
import { processExpiries } from '../shared/domain/expiry/expire.ts';
import { runJob } from './instrumentation.ts';
import { newWorker, type WorkerContext } from './worker-kit.ts';

/** The expiry worker: one job per group of holds made together; each ticket's outcome is counted. */
export function expiryWorker(ctx: WorkerContext, concurrency: number): Worker<TicketsJob, string[]> {
  return newWorker<TicketsJob, string[]>(ctx, EXPIRY_QUEUE, concurrency, (job) =>
    runJob(ctx, EXPIRY_QUEUE, job, (deps) => processExpiries(deps, job.data.tickets),
      (outcomes) => outcomes.map((outcome, i) => ({ outcome, ticketId: job.data.tickets[i] }))));
}
