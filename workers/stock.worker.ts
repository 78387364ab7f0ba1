import { Worker } from 'bullmq';
import type { TicketsJob } from '../shared/queues/queues.ts';
import { processAdmissions } from '../shared/domain/reservation/reserve.ts';
import { runJob } from './instrumentation.ts';
import { newWorker, type WorkerContext } from './worker-kit.ts';

/**
 * The stock worker of one admission queue (a drop's own, or the general products'): each
 * job is a batch of tickets in admission order (see processAdmissions). Tickets the
 * product's admission rate has no tokens for yet stay in the job, which goes back to the
 * head of the queue while the queue waits (every worker of it) until there are.
 */
export function stockWorker(ctx: WorkerContext, queue: string, concurrency: number): Worker<TicketsJob, number> {
  return newWorker<TicketsJob, number>(ctx, queue, concurrency, async (job) => {
    const out = await runJob(ctx, queue, job, (deps) => processAdmissions(deps, job.data.tickets), (o) => o.handled);
    if (out.rest.length === 0) return out.handled.length;
    await job.updateData({ tickets: out.rest });
    await ctx.deps.queues.get(queue).rateLimit(out.waitMs);
    throw Worker.RateLimitError();
  });
}
