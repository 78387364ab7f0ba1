import type { Deps } from '../../deps.ts';
import type { Product } from '../../db/entities/product.entity.ts';
import type { ProductChores } from '../../redis/scripts.ts';
import { jobOptions } from '../../queues/queues.ts';
import { processExpiries } from '../expiry/expire.ts';
import { sweepSoldOut } from '../reservation/hand-on.ts';

/** How late a hold may be before the janitor expires it itself. */
const HOLD_GRACE_MS = 5_000;
/** How old a queued ticket must be before the janitor checks that its job exists. */
const QUEUED_GRACE_MS = 30_000;

/** Holds due at or before this instant are overdue: the janitor expires them itself. */
export const overdueAt = (now: number) => now - HOLD_GRACE_MS;

/** Whether repairProduct can find anything to do, by what peek.lua counted: a queued ticket or an overdue hold. */
export const needsRepair = (chores: ProductChores) => chores.queued > 0 || chores.overdue > 0;

/**
 * The janitor's round for one loaded product, every second: the backstop for steps a
 * crash interrupted between Redis and the queue. A hold well past its deadline lost its
 * expiry job (or it keeps failing), so it is expired here; a sold-out product whose
 * queued tickets were not all ended is swept; queued tickets whose admission job is gone
 * get it added again. Every repair is idempotent.
 */
export async function repairProduct(deps: Deps, product: Product): Promise<void> {
  const now = Date.now();
  const overdue = await deps.tickets.overdueHolds(product.id, overdueAt(now), 200);
  if (overdue.length) {
    deps.logger.warn({ productId: product.id, holds: overdue.length }, 'holds past their deadline; expiring them');
    await processExpiries(deps, overdue);
  }
  await sweepSoldOut(deps, product);
  const admission = deps.queues.admission(product.type, product.id);
  // Tickets name their admission job; a job that is gone left its still-queued tickets behind.
  const lost = new Map<string, string[]>();
  for (const ticketId of await deps.tickets.oldestQueued(product.id, 20)) {
    const { createdAt, jobId, parked } = await deps.tickets.admission(product.id, ticketId);
    if (parked || createdAt === null || now - createdAt < QUEUED_GRACE_MS) continue;
    const id = jobId ?? ticketId;
    const known = lost.get(id);
    if (known) known.push(ticketId);
    else if ((await admission.getJobState(id)) === 'unknown') lost.set(id, [ticketId]);
  }
  for (const [jobId, tickets] of lost) {
    deps.logger.warn({ jobId, tickets }, 'queued tickets had no admission job; re-adding');
    await admission.add('admit', { tickets }, jobOptions.admission(jobId));
  }
}
