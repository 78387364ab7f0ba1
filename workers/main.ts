import type { Worker } from 'bullmq';
import { loadConfigOrExit, type Config } from '../shared/config.ts';
import { closeDeps, createDeps, type Deps } from '../shared/deps.ts';
import { settlesWithin } from '../shared/deadline.ts';
import { createWorkerMetrics } from '../shared/metrics.ts';
import { GENERAL_PAYMENT_QUEUE, GENERAL_QUEUE, dropPaymentQueueName, reserveQueueName } from '../shared/queues/queues.ts';
import { expiryWorker } from './expiry.worker.ts';
import { instrumentPayments } from './instrumentation.ts';
import { Janitor } from './janitor.ts';
import { startMetricsServer } from './metrics-server.ts';
import { paymentWorker } from './payment.worker.ts';
import { stockWorker } from './stock.worker.ts';
import type { WorkerContext } from './worker-kit.ts';

export type WorkerOptions = {
  /** Port of the workers' `/metrics` (0: any free port; null: none). Default: METRICS_PORT, none in tests. */
  metricsPort?: number | null;
};

/**
 * Starts every worker of the system in one process, and stops them: a stock worker per
 * drop (started as the janitor finds each drop), one for general products, the payment
 * workers (drops and general products apart), the expiry worker, and the janitor.
 */
/** How long a stop waits for running jobs, and for the janitor's round, before cutting them off. */
const SHUTDOWN_GRACE_MS = 10_000;

export async function startWorkers(config: Config = loadConfigOrExit(), depsIn?: Deps, options: WorkerOptions = {}) {
  const deps = depsIn ?? (await createDeps(config, 'workers', 'worker'));
  const metrics = createWorkerMetrics();
  const ctx: WorkerContext = { deps: { ...deps, provider: instrumentPayments(deps.provider, metrics) }, metrics };
  const metricsPort = options.metricsPort === undefined ? (config.NODE_ENV === 'test' ? null : config.METRICS_PORT) : options.metricsPort;
  const metricsServer = metricsPort === null ? null : await startMetricsServer(metrics.registry, metricsPort, deps.logger);

  /** Every worker by queue name (each is a typed `Worker<Data, Result>` of its own file). */
  const workers = new Map<string, Pick<Worker, 'close' | 'disconnect'>>();
  const add = (name: string, make: () => Pick<Worker, 'close' | 'disconnect'>) => {
    if (!workers.has(name)) workers.set(name, make());
  };
  add(GENERAL_QUEUE, () => stockWorker(ctx, GENERAL_QUEUE, config.GENERAL_CONCURRENCY));
  add(GENERAL_PAYMENT_QUEUE, () => paymentWorker(ctx, GENERAL_PAYMENT_QUEUE, Math.max(4, Math.floor(config.PAYMENT_CONCURRENCY / 4))));
  add('expiry', () => expiryWorker(ctx, config.STOCK_CONCURRENCY));

  // Each drop gets its stock worker and its payment worker as the janitor finds it.
  const janitor = new Janitor(ctx.deps, (product) => {
    if (product.type !== 'reserve') return;
    const [stock, payment] = [reserveQueueName(product.id), dropPaymentQueueName(product.id)];
    add(stock, () => stockWorker(ctx, stock, config.STOCK_CONCURRENCY));
    add(payment, () => paymentWorker(ctx, payment, config.PAYMENT_CONCURRENCY));
  });
  janitor.start();

  // A bounded stop: the janitor and each worker get the grace period. A worker whose close
  // has not settled by then (its jobs still running, or BullMQ waiting for the end of a
  // blocking connection that never ends after a Redis server went away and came back:
  // taskforcesh/bullmq#4065, #4656) is disconnected and left behind: its jobs' locks lapse
  // and another worker takes them over after JOB_LOCK_MS. Its lock-renewal timer lives on
  // until the process exits, which both entry points (below, scripts/start.ts) do right
  // after; in-process workers (the tests) leave it to jest to end.
  const stop = async () => {
    await settlesWithin(janitor.stop(), SHUTDOWN_GRACE_MS);
    await Promise.all([...workers.values()].map(async (w) => {
      if (!(await settlesWithin(w.close(), SHUTDOWN_GRACE_MS))) await w.disconnect();
    }));
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
