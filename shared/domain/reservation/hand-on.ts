import type { Deps } from '../../deps.ts';
import type { Product } from '../../db/entities/product.entity.ts';
import { isUnstorable } from '../../db/batcher.ts';
import { jobOptions } from '../../queues/queues.ts';
import type { FreedUnits, NewHold } from '../../redis/scripts.ts';
import { ORDER_STATUS_OF_TICKET } from '../tickets/statuses.ts';

/** A held ticket to hand on; `hold` when the reserving call just made it (no read needed). */
export type Hold = { ticketId: string; requestId?: string; hold?: NewHold };

/**
 * Units that came free (a sale ended hopeless heads, a release gave units back, an
 * operator added stock) go on: the parked tickets that got them (`promoted`, oldest first)
 * get their orders and payment jobs, and once nothing can come back (`remaining` queued
 * tickets left) the queue is swept sold out. Every caller of a script that frees units
 * ends with this.
 */
export async function handOn(deps: Deps, product: Product, freed: Pick<FreedUnits, 'promoted' | 'remaining'>): Promise<void> {
  await fulfilAll(deps, product, freed.promoted.map((ticketId) => ({ ticketId })));
  if (freed.remaining > 0) await sweepSoldOut(deps, product);
}

/**
 * Hands held tickets on: each gets its order in MySQL (see ensureOrder), then, in one call,
 * each ticket its order id and payment job; then the group one payment job and one expiry
 * job, due when the last of their holds runs out. Idempotent. The order rows are committed
 * before anything else is written, so the job that calls this never completes without
 * them; the order ids go only onto tickets as they are (after Redis lost its data a step
 * on its way must not leave a ticket of two fields behind: the rebuild restores the hold
 * from the order).
 */
export async function fulfilAll(deps: Deps, product: Product, holds: Hold[]): Promise<void> {
  if (holds.length === 0) return;
  const payJob = jobOptions.payment(holds.map((h) => h.ticketId), deps.config.PAYMENT_ATTEMPTS);
  const ordered = (await Promise.all(holds.map((h) => ensureOrder(deps, product, h)))).filter((o) => o !== null);
  const fresh = ordered.filter((o) => o.newOrderId !== null);
  const set = await deps.tickets.setOrders(product.id, fresh.map((o) => ({ ticketId: o.ticketId, orderId: o.newOrderId! })), payJob.jobId!);
  const gone = new Set(fresh.filter((_, i) => !set[i]).map((o) => o.ticketId));
  const held = ordered.filter((o) => !gone.has(o.ticketId));
  if (held.length === 0) return;
  const requests: Record<string, string> = {};
  for (const o of held) if (o.requestId) requests[o.ticketId] = o.requestId;
  const tickets = held.map((o) => o.ticketId);
  await deps.queues.payment(product.type, product.id).add('pay', { tickets, requests }, payJob);
  const due = Math.max(...held.map((o) => o.dueMs));
  await deps.queues.expiry().add('expire', { tickets }, jobOptions.expiry(tickets[0], due - Date.now()));
}

/**
 * A held ticket's order in MySQL. Idempotent. An order MySQL can never store ends its
 * ticket `rejected` (`order_not_storable`), and its units go to the next buyer, instead of
 * retrying until the hold runs out. Returns the order id to record on the ticket (null when
 * the ticket has it already), when the hold runs out (ms) and the request that admitted the
 * ticket; or null when the ticket is not reserved (any more).
 */
async function ensureOrder(deps: Deps, product: Product, h: Hold) {
  const { ticketId } = h;
  const t = h.hold
    ? { status: 'reserved', userId: h.hold.userId, quantity: h.hold.quantity, heldAtMs: h.hold.heldAtMs, paymentMethod: h.hold.paymentMethod,
      orderId: null, requestId: h.requestId ?? null }
    : await deps.tickets.get(product.id, ticketId);
  if (t?.status !== 'reserved' || !t.userId) return null;
  let newOrderId: number | null = null;
  if (t.orderId === null) {
    try {
      newOrderId = await deps.orders.ensurePending({
        ticketId, userId: t.userId, productId: product.id, quantity: t.quantity,
        amountMinor: t.quantity * product.priceMinor, currency: product.currency, paymentMethod: t.paymentMethod || 'pm_card_ok',
      });
    } catch (err) {
      if (!isUnstorable(err)) throw err;
      deps.logger.error({ ticketId, err: (err as Error).message }, 'order can never be stored; ticket rejected');
      await endHold(deps, product, ticketId, 'rejected', 'order_not_storable');
      return null;
    }
  }
  return { ticketId, newOrderId, dueMs: (t.heldAtMs ?? Date.now()) + deps.config.PAYMENT_HOLD_MS, requestId: t.requestId ?? null };
}

/**
 * Ends a reserved ticket (its payment failed, its hold expired, its order can never be
 * stored), gives its units back exactly once and hands them on. Returns the ticket's
 * status after it ('paid' when the charge won the race).
 */
export async function endHold(deps: Deps, product: Product, ticketId: string, status: 'payment_failed' | 'expired' | 'rejected', reason: string): Promise<string> {
  const freed = await deps.scripts.release(product.id, ticketId, status, reason);
  if (freed.outcome === 'not_loaded') {
    // Redis lost the product: the job retries once it is rebuilt (by the door or the janitor).
    throw new Error(`product ${product.id} is not loaded in Redis; ending ${ticketId} on the next attempt`);
  }
  if (freed.outcome === 'released') {
    await syncOrder(deps, ticketId, status);
    await handOn(deps, product, freed);
    return status;
  }
  await syncOrder(deps, ticketId, freed.outcome);
  return freed.outcome;
}

/** Settles a ticket's order to match its terminal status, if it has one. */
export async function syncOrder(deps: Deps, ticketId: string, ticketStatus: string): Promise<void> {
  const orderStatus = ORDER_STATUS_OF_TICKET[ticketStatus];
  if (orderStatus) await deps.orders.settle(ticketId, orderStatus);
}

/** Once nothing can come back, ends every queued ticket sold out, a batch per script call. */
export async function sweepSoldOut(deps: Deps, product: Product): Promise<void> {
  while ((await deps.scripts.sweep(product.id)) > 0);
}
