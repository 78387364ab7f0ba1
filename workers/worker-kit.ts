import { Worker, type Job } from 'bullmq';
import type { Deps } from '../shared/deps.ts';
import type { WorkerMetrics } from '../shared/metrics.ts';
import { queuePrefix } from '../shared/queues/queues.ts';

/** What every worker of a process shares: its deps (the provider instrumented) and metrics. */
export type WorkerContext = { deps: Deps; metrics: WorkerMetrics };

/**
 * A BullMQ worker of this system: a worker killed mid-job stops renewing its lock, and
 * after JOB_LOCK_MS another takes the job over; failures and errors are logged.
 */
export function newWorker<D, R>(ctx: WorkerContext, queue: string, concurrency: number, process: (job: Job<D, R>) => Promise<R>): Worker<D, R> {
  const { config, logger } = ctx.deps;
  const worker = new Worker<D, R>(queue, process, {
    connection: ctx.deps.redis,
    prefix: queuePrefix(config.KEY_PREFIX, queue),
    concurrency,
    lockDuration: config.JOB_LOCK_MS,
    stalledInterval: config.JOB_LOCK_MS,
    maxStalledCount: 5,
  });
  worker.on('failed', (job, err) =>
    logger.warn({ queue, jobId: job?.id, data: job?.data, attempts: job?.attemptsMade, err: err.message }, 'job failed'));
  worker.on('error', (err) => logger.error({ queue, err: err.message }, 'worker error'));
  return worker;
}
