import type { Deps } from '../../deps.ts';
import { paymentJobId } from '../../queues/queues.ts';
import { refundIfCharged } from './refunds.ts';

/** Payment job states in which the job will still settle its ticket itself. */
const LIVE_JOB_STATES = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);

export type ChargeCheck = { checked: number; refunded: number; deferred: number; paidWithoutCharge: string[] };

/**
 * The provider's word against the ledger: net charges per ticket are 1 for a paid ticket
 * and 0 for every other. Every order that ended without a sale is looked up at the
 * provider once its payment job can no longer run (a job still waiting or running settles
 * the ticket itself); a charge found is refunded and recorded, and the order is marked
 * checked. A paid order with no charge recorded is looked up too: a charge found is
 * recorded, none is reported (it cannot be fixed here).
 */
export async function reconcileCharges(deps: Deps, limit = 200): Promise<ChargeCheck> {
  const check: ChargeCheck = { checked: 0, refunded: 0, deferred: 0, paidWithoutCharge: [] };
  await eachLimited(await deps.orders.endedUnchecked(limit), 8, async (o) => {
    const product = await deps.catalog.find(o.productId);
    const queue = deps.queues.payment(product?.type ?? 'reserve', o.productId);
    // The ticket's job is named on the ticket (a group's is named after its first ticket).
    const recorded = (await deps.tickets.get(o.productId, o.ticketId))?.payJob;
    const jobs = new Set([paymentJobId([o.ticketId]), ...(recorded ? [recorded] : [])]);
    const states = await Promise.all([...jobs].map((id) => queue.getJobState(id)));
    if (states.some((state) => LIVE_JOB_STATES.has(state))) {
      check.deferred++;
      return;
    }
    const outcome = await refundIfCharged(deps, { ticketId: o.ticketId, orderId: o.id, currency: o.currency }, 'payment reconciliation');
    await deps.orders.markChargeVerified(o.id);
    check.checked++;
    if (outcome === 'refunded') check.refunded++;
  });
  for (const o of await deps.orders.paidWithoutPayment(limit)) {
    const charge = await deps.provider.lookup(o.ticketId);
    if (!charge) {
      check.paidWithoutCharge.push(o.ticketId);
      continue;
    }
    await deps.payments.record({
      ticketId: o.ticketId, orderId: o.id, status: 'succeeded', amountMinor: o.amountMinor, currency: o.currency,
      attempts: 1, providerReference: charge.reference,
    });
  }
  if (check.paidWithoutCharge.length) deps.logger.error({ tickets: check.paidWithoutCharge }, 'paid orders without a charge at the provider');
  return check;
}

async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}
