import { Worker, type Job } from 'bullmq';
import { loadConfigOrExit, type Config } from '../shared/config.ts';
import { closeDeps, createDeps, type Deps } from '../shared/deps.ts';
import { processAdmissions, processExpiries, processPayment } from '../shared/domain/fulfilment.ts';
import {
  EXPIRY_QUEUE,
  GENERAL_PAYMENT_QUEUE,
  GENERAL_QUEUE,
  PAYMENT_QUEUE,
  reserveQueueName,
  type TicketsJob,
  type AnyJob,
  type TicketJob,
} from '../shared/queues.ts';
import { createWorkerMetrics } from '../shared/metrics.ts';
import { instrumentPayments, runJob } from './instrumentation.ts';
import { LedgerPass, sweepProduct } from './janitor.ts';
import { startMetricsServer } from './metrics-server.ts';

type Step = (deps: Deps, ticketId: string, attempt: number) => Promise<string>;
type Processor = (job: Job<AnyJob>, queue: string) => Promise<unknown>;

export type WorkerOptions = {
  /** Port of the workers' `/metrics` (0: any free port; null: none). Default: METRICS_PORT, none in tests. */
  metricsPort?: number | null;
};

/**
 * Runs every worker of the system in one process: a stock worker per reserve product
 * (discovered as products are loaded), one for general products, the payment workers
 * (drops and general products apart) and the expiry worker, plus the janitor.
 */
export async function startWorkers(config: Config = loadConfigOrExit(), depsIn?: Deps, options: WorkerOptions = {}) {
  const deps = depsIn ?? (await createDeps(config, 'workers', 'worker'));
  const metrics = createWorkerMetrics();
  const jobDeps: Deps = { ...deps, payments: instrumentPayments(deps.payments, metrics) };
  const metricsPort = options.metricsPort === undefined ? (config.NODE_ENV === 'test' ? null : config.METRICS_PORT) : options.metricsPort;
  const metricsServer = metricsPort === null ? null : await startMetricsServer(metrics.registry, metricsPort, deps.logger);
  const workers = new Map<string, Worker<AnyJob>>();

  /** A step of one ticket (payment, expiry). */
  const ticketStep = (step: Step): Processor => (job, queue) =>
    runJob(jobDeps, metrics, queue, job, (d, attempt) => step(d, (job.data as TicketJob).ticketId, attempt), (outcome) => [{ outcome }]);

  /**
   * The stock worker: an admission job's batch of tickets. Tickets the product's rate has
   * no tokens for yet stay in the job, which goes back to the head of the queue while the
   * queue waits (every worker of it) until there are.
   */
  const admissionStep: Processor = async (job, queue) => {
    const out = await runJob(jobDeps, metrics, queue, job, (d) => processAdmissions(d, (job.data as TicketsJob).tickets),
      (o) => o.handled);
    if (out.rest.length === 0) return out.handled.length;
    await job.updateData({ tickets: out.rest });
    await deps.queues.get(queue).rateLimit(out.waitMs);
    throw Worker.RateLimitError();
  };

  const start = (queue: string, process: Processor, concurrency: number) => {
    if (workers.has(queue)) return;
    const worker = new Worker<AnyJob>(
      queue,
      async (job: Job<AnyJob>) => process(job, queue),
      {
        connection: deps.redis,
        prefix: config.KEY_PREFIX,
        concurrency,
        // A worker killed mid-job stops renewing its lock; after JOB_LOCK_MS another takes the job over.
        lockDuration: config.JOB_LOCK_MS,
        stalledInterval: config.JOB_LOCK_MS,
        maxStalledCount: 5,
      },
    );
    worker.on('failed', (job, err) =>
      deps.logger.warn({ queue, jobId: job?.id, data: job?.data, attempts: job?.attemptsMade, err: err.message }, 'job failed'),
    );
    worker.on('error', (err) => deps.logger.error({ queue, err: err.message }, 'worker error'));
    workers.set(queue, worker);
  };

  start(GENERAL_QUEUE, admissionStep, config.GENERAL_CONCURRENCY);
  start(PAYMENT_QUEUE, ticketStep(processPayment), config.PAYMENT_CONCURRENCY);
  start(GENERAL_PAYMENT_QUEUE, ticketStep(processPayment), Math.max(4, Math.floor(config.PAYMENT_CONCURRENCY / 4)));
  // Expiry: a group of holds made together per job; each ticket's outcome is counted.
  start(EXPIRY_QUEUE, (job, queue) => {
    const tickets = (job.data as TicketsJob).tickets;
    return runJob(jobDeps, metrics, queue, job, (d) => processExpiries(d, tickets),
      (outcomes) => outcomes.map((outcome, i) => ({ outcome, ticketId: tickets[i] })));
  }, config.STOCK_CONCURRENCY);
  // Each payment queue is held to the provider's rate limit.
  await Promise.all([PAYMENT_QUEUE, GENERAL_PAYMENT_QUEUE].map((q) =>
    deps.queues.get(q).setGlobalRateLimit(config.PAYMENT_RATE_PER_SEC, 1000)));

  let stopping = false;
  const ledger = new LedgerPass(jobDeps, config.RECONCILE_INTERVAL_MS);
  const discover = async () => {
    // Drops are learnt from MySQL too: after Redis restarted empty, its registry is gone.
    // A MySQL outage must not stop the Redis-side sweeps below.
    await ledger.maybeRun().catch((err: Error) => deps.logger.warn({ err: err.message }, 'ledger pass failed'));
    const ids = await deps.redis.smembers(deps.keys.products());
    for (const id of ids.map(Number)) {
      const product = await deps.catalog.find(id);
      if (!product) continue;
      if (product.type === 'reserve') start(reserveQueueName(id), admissionStep, config.STOCK_CONCURRENCY);
      await sweepProduct(deps, product);
    }
  };
  let tick: Promise<void> = discover();
  const timer = setInterval(() => {
    tick = tick.then(() => (stopping ? undefined : discover())).catch((err) =>
      deps.logger.error({ err: (err as Error).message }, 'janitor pass failed'),
    );
  }, 1000);

  const stop = async () => {
    stopping = true;
    clearInterval(timer);
    await tick.catch(() => {});
    await Promise.all([...workers.values()].map((w) => w.close()));
    await metricsServer?.close();
    if (!depsIn) await closeDeps(deps);
  };
  return { deps, workers, stop, metrics, metricsUrl: metricsServer?.url ?? null };
}

if (import.meta.main) {
  const running = await startWorkers();
  running.deps.logger.info({ queues: [...running.workers.keys()] }, 'workers running');
  const shutdown = async (signal: string) => {
    running.deps.logger.info({ signal }, 'workers stopping');
    await running.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
