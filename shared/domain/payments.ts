import type { Orm } from '../db/orm.ts';

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

/** Records what the provider answered for a ticket; a repeat updates the same row. */
export async function recordPayment(orm: Orm, p: PaymentRecord): Promise<void> {
  const now = new Date();
  await orm.em.getConnection().execute(
    `insert into payments (ticket_id, order_id, status, amount_minor, currency, attempts, provider_reference, decline_reason, created_at, updated_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     on duplicate key update attempts = greatest(attempts, values(attempts)), updated_at = values(updated_at)`,
    [p.ticketId, p.orderId, p.status, p.amountMinor, p.currency, p.attempts, p.providerReference ?? null, p.declineReason ?? null, now, now],
    'run',
  );
}

/** Records the refund of a charge that arrived after the ticket's hold had ended. */
export async function recordRefund(orm: Orm, ticketId: string, refundReference: string): Promise<void> {
  await orm.em.getConnection().execute(
    `update payments set status = 'refunded', refund_reference = ?, updated_at = ? where ticket_id = ?`,
    [refundReference, new Date(), ticketId],
    'run',
  );
}
