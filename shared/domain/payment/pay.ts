import type { Deps } from '../../deps.ts';
import type { Product } from '../../db/entities/product.entity.ts';
import type { TicketRecord } from '../../redis/ticket-store.ts';
import { loadProduct } from '../products/load.ts';
import { endHold, fulfilAll, handOn, syncOrder } from '../reservation/hand-on.ts';
import { productOfTicket } from '../tickets/ids.ts';
import { TERMINAL_STATUSES } from '../tickets/statuses.ts';
import { refundIfCharged } from './refunds.ts';

/** The card was declined: the ticket ended `payment_failed`; trying again cannot help. */
export class PaymentDeclined extends Error {
  constructor(reason: string) {
    super(`payment declined: ${reason}`);
    this.name = 'PaymentDeclined';
  }
}

/**
 * The payment worker's step: charge a reserved ticket once (the provider dedupes by ticket
 * id), record what the provider said, then settle: the units are sold, or, when the hold
 * ended before the provider answered, the late charge is refunded. A ticket that ended
 * without a sale while the job waited gets any charge made under its key refunded.
 * Returns the ticket's status after it; throws PaymentDeclined for a declined card.
 */
export async function processPayment(deps: Deps, ticketId: string, attempt = 1): Promise<string> {
  const productId = productOfTicket(ticketId);
  const product = productId === null ? null : await deps.catalog.find(productId);
  if (!product) return 'missing';
  let t = await deps.tickets.get(product.id, ticketId);
  if (!t) {
    // Redis lost the product: the ledger rebuild restores holds of pending orders.
    await loadProduct(deps, product);
    t = await deps.tickets.get(product.id, ticketId);
    if (!t) return 'missing';
  }
  if (t.status !== 'reserved') return alreadyDecided(deps, product, ticketId, t);
  if (t.orderId === null) {
    await fulfilAll(deps, product, [{ ticketId }]);
    t = await deps.tickets.get(product.id, ticketId);
    if (t?.status !== 'reserved' || t.orderId === null) return t?.status ?? 'missing';
  }
  const amountMinor = t.quantity * product.priceMinor;
  const record = { ticketId, orderId: t.orderId, amountMinor, currency: product.currency, attempts: attempt };
  const result = await deps.provider.charge({ idempotencyKey: ticketId, amountMinor, currency: product.currency, paymentMethod: t.paymentMethod });
  if (result.outcome === 'declined') {
    await deps.payments.record({ ...record, status: 'declined', declineReason: result.reason });
    await endHold(deps, product, ticketId, 'payment_failed', result.reason);
    throw new PaymentDeclined(result.reason);
  }
  await deps.payments.record({ ...record, status: 'succeeded', providerReference: result.reference });
  const freed = await deps.settler.settle(product.id, ticketId);
  if (freed.outcome === 'paid') {
    await deps.orders.settle(ticketId, 'paid');
    await handOn(deps, product, freed);
    return 'paid';
  }
  if (freed.outcome === 'missing' || freed.outcome === 'not_loaded') {
    // Redis lost the ticket while the provider charged: nothing decided it ended. The
    // rebuild gives its hold back from its pending order, and the next attempt settles it
    // (the provider answers the same charge again).
    await loadProduct(deps, product);
    throw new Error('ticket not in Redis while its charge went through; settling it on the next attempt');
  }
  // The hold ended before the provider answered: the late charge must not stand.
  const refund = await deps.provider.refund({ idempotencyKey: ticketId, reference: result.reference, amountMinor, currency: product.currency });
  await deps.payments.recordRefund({ ticketId, orderId: t.orderId, amountMinor, currency: product.currency,
    chargeReference: result.reference, refundReference: refund.reference });
  deps.logger.warn({ ticketId, status: freed.outcome, charge: result.reference, refund: refund.reference }, 'late charge refunded');
  await syncOrder(deps, ticketId, freed.outcome);
  return freed.outcome;
}

/** A job for a ticket whose outcome is already decided: make the rest agree with it. */
async function alreadyDecided(deps: Deps, product: Product, ticketId: string, t: TicketRecord): Promise<string> {
  if (TERMINAL_STATUSES.has(t.status) && t.status !== 'paid') {
    // Ended without a sale while this job waited (its hold ran out, it was taken over
    // after its worker died): a charge the last attempt made must not stand.
    const orderId = t.orderId ?? (await deps.orders.ofTicket(ticketId))?.id;
    if (orderId) await refundIfCharged(deps, { ticketId, orderId, currency: product.currency }, `ticket ${t.status} before its payment settled`);
  }
  await syncOrder(deps, ticketId, t.status);
  // A retry after a settle that handed units on: the tickets that got them need their jobs.
  if (t.status === 'paid') await handOn(deps, product, { promoted: t.promoted, remaining: 0 });
  return t.status;
}
