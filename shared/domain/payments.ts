import type { Deps } from '../deps.ts';
import type { Orm } from '../db/orm.ts';
import { Batcher, onePer } from '../db/batcher.ts';

export type PaymentRecord = {
  ticketId: string;
  orderId: number;
  status: 'succeeded' | 'declined';
  amountMinor: number;
  currency: string;
  attempts: number;
  providerReference?: string;
  declineReason?: string;
};

/**
 * Records what the provider answered for a ticket; a repeat updates the same row
 * (attempts grows to the greatest seen, the first answer's status stays). Concurrent
 * calls share one multi-row upsert (see paymentWrites); resolves once the row is committed.
 */
export function recordPayment(orm: Orm, p: PaymentRecord): Promise<void> {
  return paymentWrites(orm).add(p);
}

/**
 * The payment worker's records of one event-loop turn as one `insert ... on duplicate key
 * update`. MySQL applies the rows one by one, so two records of one ticket in a batch end
 * like two calls in a row (the second one updates the row the first inserted). Rows go in
 * ticket order (a stable sort keeps a ticket's repeats in call order), so two batches in
 * flight that share tickets lock them in the same order and cannot deadlock each other.
 */
const paymentWrites = onePer((orm: Orm) => new Batcher<PaymentRecord, void>(async (records) => {
  const now = new Date();
  const rows = [...records].sort((a, b) => (a.ticketId < b.ticketId ? -1 : a.ticketId > b.ticketId ? 1 : 0));
  await orm.em.getConnection().execute(
    `insert into payments (ticket_id, order_id, status, amount_minor, currency, attempts, provider_reference, decline_reason, created_at, updated_at)
     values ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
     on duplicate key update attempts = greatest(attempts, values(attempts)), updated_at = values(updated_at)`,
    rows.flatMap((p) => [p.ticketId, p.orderId, p.status, p.amountMinor, p.currency, p.attempts, p.providerReference ?? null, p.declineReason ?? null, now, now]),
    'run',
  );
  return records.map(() => undefined);
}));

export type RefundRecord = {
  ticketId: string;
  orderId: number;
  amountMinor: number;
  currency: string;
  chargeReference: string;
  refundReference: string;
};

/**
 * Records the refund of a ticket's charge: the payment row becomes `refunded`, or is
 * written now if the charge was never recorded (the worker that made it died first).
 */
export async function recordRefund(orm: Orm, r: RefundRecord): Promise<void> {
  const now = new Date();
  await orm.em.getConnection().execute(
    `insert into payments (ticket_id, order_id, status, amount_minor, currency, attempts, provider_reference, refund_reference, created_at, updated_at)
     values (?, ?, 'refunded', ?, ?, 1, ?, ?, ?, ?)
     on duplicate key update status = 'refunded', refund_reference = values(refund_reference),
       provider_reference = coalesce(provider_reference, values(provider_reference)), updated_at = values(updated_at)`,
    [r.ticketId, r.orderId, r.amountMinor, r.currency, r.chargeReference, r.refundReference, now, now],
    'run',
  );
}

/**
 * For a ticket that ended without a sale: asks the provider whether a charge went
 * through under its key anyway (a worker died after charging, a job was taken over after
 * the hold ran out, an answer came too late), and if so refunds it, once (the provider
 * dedupes refunds by key), and records the refund. Net charges for the ticket are 0 after.
 */
export async function refundIfCharged(
  deps: Pick<Deps, 'payments' | 'orm' | 'logger'>,
  ticket: { ticketId: string; orderId: number; currency: string },
  why: string,
): Promise<'none' | 'refunded'> {
  const charge = await deps.payments.lookup(ticket.ticketId);
  if (!charge) return 'none';
  let refundReference = charge.refundReference;
  if (!refundReference) {
    refundReference = (await deps.payments.refund({
      idempotencyKey: ticket.ticketId, reference: charge.reference, amountMinor: charge.amountMinor, currency: ticket.currency,
    })).reference;
    deps.logger.warn({ ticketId: ticket.ticketId, charge: charge.reference, refund: refundReference, why }, 'charge of a ticket without a sale refunded');
  }
  await recordRefund(deps.orm, {
    ticketId: ticket.ticketId, orderId: ticket.orderId, amountMinor: charge.amountMinor, currency: ticket.currency,
    chargeReference: charge.reference, refundReference,
  });
  return 'refunded';
}
