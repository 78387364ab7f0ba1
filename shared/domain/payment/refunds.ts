import type { Deps } from '../../deps.ts';
import { productOfTicket } from '../tickets/ids.ts';

/**
 * For a ticket that ended without a sale: asks the provider whether a charge went through
 * under its key anyway (a worker died after charging, a job was taken over after the hold
 * ran out, an answer came too late), and if so refunds it, once (the provider dedupes
 * refunds by key), and records the refund. Net charges for the ticket are 0 after.
 */
export async function refundIfCharged(
  deps: Pick<Deps, 'provider' | 'payments' | 'logger' | 'scripts'>,
  ticket: { ticketId: string; orderId: number; currency: string },
  why: string,
): Promise<'none' | 'refunded'> {
  const charge = await deps.provider.lookup(ticket.ticketId);
  if (!charge) return 'none';
  let refundReference = charge.refundReference;
  if (!refundReference) {
    refundReference = (await deps.provider.refund({
      idempotencyKey: ticket.ticketId, reference: charge.reference, amountMinor: charge.amountMinor, currency: ticket.currency,
    })).reference;
    deps.logger.warn({ ticketId: ticket.ticketId, charge: charge.reference, refund: refundReference, why }, 'charge of a ticket without a sale refunded');
    const productId = productOfTicket(ticket.ticketId);
    if (productId !== null) {
      await deps.scripts.logEvent(productId, { type: 'refunded', ticketId: ticket.ticketId, userId: '', qty: 0, orderKey: '', extra: refundReference })
        .catch(() => false);
    }
  }
  await deps.payments.recordRefund({
    ticketId: ticket.ticketId, orderId: ticket.orderId, amountMinor: charge.amountMinor, currency: ticket.currency,
    chargeReference: charge.reference, refundReference,
  });
  return 'refunded';
}
