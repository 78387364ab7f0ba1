import type { Deps } from '../shared/deps.ts';
import type { Product } from '../shared/db/entities/product.entity.ts';
import { admissionQueueName, jobOptions } from '../shared/queues.ts';
import { processExpiries, sweepSoldOut } from '../shared/domain/fulfilment.ts';
import { reconcilePayments, reloadLostProducts, settleOverdueOrders, snapshotProducts } from '../shared/domain/ledger-keeper.ts';

/** How late a hold may be before the janitor expires it itself. */
const HOLD_GRACE_MS = 5_000;
/** How old a queued ticket must be before the janitor checks that its job exists. */
const QUEUED_GRACE_MS = 30_000;

/**
 * The backstop for steps a crash interrupted between Redis and the queue: a hold whose
 * expiry job is missing, a queued ticket whose admission job was never added, a sold-out
 * product whose queued tickets were not all ended. Every repair is an idempotent add.
 */
export async function sweepProduct(deps: Deps, product: Product): Promise<void> {
  const { redis, keys, queues } = deps;
  const k = keys.product(product.id);
  const now = Date.now();
  // A hold well past its deadline lost its expiry job (or the job keeps failing): expire it here.
  const overdue = await redis.zrangebyscore(k.holds, '-inf', String(now - HOLD_GRACE_MS), 'LIMIT', 0, 200);
  if (overdue.length) {
    deps.logger.warn({ holds: overdue.length }, 'holds past their deadline; expiring them');
    await processExpiries(deps, overdue);
  }
  await sweepSoldOut(deps, product);
  const oldest = await redis.zrange(k.queued, '0', '19');
  const admission = queues.get(admissionQueueName(product.type, product.id));
  // Tickets name their admission job; a job that is gone left its still-queued tickets behind.
  const lost = new Map<string, string[]>();
  for (const ticketId of oldest) {
    const [[created, job], parked] = await Promise.all([
      redis.hmget(k.ticketPrefix + ticketId, 'created', 'job'),
      redis.zscore(k.waiting, ticketId),
    ]);
    if (parked !== null || !created || now - Number(created) < QUEUED_GRACE_MS) continue;
    const jobId = job || ticketId;
    const known = lost.get(jobId);
    if (known) known.push(ticketId);
    else if ((await admission.getJobState(jobId)) === 'unknown') lost.set(jobId, [ticketId]);
  }
  for (const [jobId, tickets] of lost) {
    deps.logger.warn({ jobId, tickets }, 'queued tickets had no admission job; re-adding');
    await admission.add('admit', { tickets }, jobOptions.admission(jobId));
  }
}

/**
 * The janitor's slower round, every `intervalMs`: products Redis lost are rebuilt from the
 * ledger (found from MySQL, since Redis's registry of products went with them), live
 * counters are snapshotted, overdue pending orders are settled, and the provider's
 * charges are reconciled with the ledger (shared/domain/ledger-keeper.ts).
 */
export class LedgerPass {
  private readonly deps: Deps;
  private readonly intervalMs: number;
  private lastAt = 0;
  private readonly snapshots = new Map<number, string>();

  constructor(deps: Deps, intervalMs: number) {
    this.deps = deps;
    this.intervalMs = intervalMs;
  }

  async maybeRun(): Promise<void> {
    if (Date.now() - this.lastAt < this.intervalMs) return;
    this.lastAt = Date.now();
    const products = await this.deps.catalog.list();
    const lost = await reloadLostProducts(this.deps, products);
    if (lost.length) this.deps.logger.warn({ products: lost.map((p) => p.id) }, 'products rebuilt from the ledger');
    await snapshotProducts(this.deps, products, this.snapshots);
    await settleOverdueOrders(this.deps);
    await reconcilePayments(this.deps);
  }
}
