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

/** Records the refund of a charge that arrived after the ticket's hold had ended. */
export async function recordRefund(orm: Orm, ticketId: string, refundReference: string): Promise<void> {
  await orm.em.getConnection().execute(
    `update payments set status = 'refunded', refund_reference = ?, updated_at = ? where ticket_id = ?`,
    [refundReference, new Date(), ticketId],
    'run',
  );
}
