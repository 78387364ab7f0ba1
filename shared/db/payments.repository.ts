import type { Orm } from './orm.ts';
import { Batcher } from './batcher.ts';

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

export type RefundRecord = {
  ticketId: string;
  orderId: number;
  amountMinor: number;
  currency: string;
  chargeReference: string;
  refundReference: string;
};

/** What the payment provider did for each ticket: one row per ticket it answered for. */
export class PaymentsRepository {
  private readonly orm: Orm;
  private readonly writes: Batcher<PaymentRecord, void>;

  constructor(orm: Orm) {
    this.orm = orm;
    this.writes = new Batcher((records) => this.upsert(records));
  }

  /**
   * Records what the provider answered for a ticket; a repeat updates the same row
   * (attempts grows to the greatest seen, the first answer's status stays). Resolves once
   * the row is committed.
   */
  record(p: PaymentRecord): Promise<void> {
    return this.writes.add(p);
  }

  /**
   * Records the refund of a ticket's charge: the payment row becomes `refunded`, or is
   * written now if the charge was never recorded (the worker that made it died first).
   */
  async recordRefund(r: RefundRecord): Promise<void> {
    const now = new Date();
    await this.orm.em.getConnection().execute(
      `insert into payments (ticket_id, order_id, status, amount_minor, currency, attempts, provider_reference, refund_reference, created_at, updated_at)
       values (?, ?, 'refunded', ?, ?, 1, ?, ?, ?, ?)
       on duplicate key update status = 'refunded', refund_reference = values(refund_reference),
         provider_reference = coalesce(provider_reference, values(provider_reference)), updated_at = values(updated_at)`,
      [r.ticketId, r.orderId, r.amountMinor, r.currency, r.chargeReference, r.refundReference, now, now],
      'run',
    );
  }

  async countRefunded(): Promise<number> {
    const [row]: { n: number }[] = await this.orm.em.getConnection().execute(`select count(*) as n from payments where status = 'refunded'`);
    return Number(row.n);
  }

  /**
   * The records of one event-loop turn as one `insert ... on duplicate key update`. MySQL
   * applies the rows one by one, so two records of one ticket in a batch end like two
   * calls in a row. Rows go in ticket order (a stable sort keeps a ticket's repeats in
   * call order), so two batches in flight that share tickets lock them in the same order.
   */
  private async upsert(records: PaymentRecord[]): Promise<void[]> {
    const now = new Date();
    const rows = [...records].sort((a, b) => (a.ticketId < b.ticketId ? -1 : a.ticketId > b.ticketId ? 1 : 0));
    await this.orm.em.getConnection().execute(
      `insert into payments (ticket_id, order_id, status, amount_minor, currency, attempts, provider_reference, decline_reason, created_at, updated_at)
       values ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
       on duplicate key update attempts = greatest(attempts, values(attempts)), updated_at = values(updated_at)`,
      rows.flatMap((p) => [p.ticketId, p.orderId, p.status, p.amountMinor, p.currency, p.attempts, p.providerReference ?? null, p.declineReason ?? null, now, now]),
      'run',
    );
    return records.map(() => undefined);
  }
}
