import type { Orm } from '../db/orm.ts';
import { Batcher, type BatchOutcome, type isUnstorable } from '../db/batcher.ts';
import type { NewOrder } from './orders.ts';

/**
 * Creates pending orders in batches: the orders that concurrent stock-worker jobs ask
 * for in the same event-loop turn go to MySQL as one multi-row insert and one select
 * of their ids, instead of one autocommitted insert (and one log flush) each.
 *
 * Idempotent per ticket (`ticket_id` is unique;
 * a ticket already in the ledger keeps its row and id), and each caller's promise
 * settles only once its row is committed, so a job never completes before its order
 * exists. A failed batch is written again row by row (see Batcher): a row MySQL can never
 * take fails alone ({@link isUnstorable}), the others are stored.
 */
export class PendingOrders {
  private readonly orm: Orm;
  private readonly batcher: Batcher<NewOrder, number>;

  constructor(orm: Orm) {
    this.orm = orm;
    this.batcher = new Batcher((orders) => this.write(orders));
  }

  /** The id of the ticket's pending order, created if it does not exist yet. */
  ensure(order: NewOrder): Promise<number> {
    return this.batcher.add(order);
  }

  private async write(orders: NewOrder[]): Promise<BatchOutcome<number>[]> {
    const connection = this.orm.em.getConnection();
    const now = new Date();
    const rows = orders.map(() => `(?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`).join(', ');
    await connection.execute(
      `insert into orders (ticket_id, user_id, product_id, quantity, amount_minor, currency, payment_method, status, created_at, updated_at)
       values ${rows} on duplicate key update id = id`,
      orders.flatMap((o) => [o.ticketId, o.userId, o.productId, o.quantity, o.amountMinor, o.currency, o.paymentMethod, now, now]),
      'run',
    );
    const found: { id: number; ticket_id: string }[] = await connection.execute(
      `select id, ticket_id from orders where ticket_id in (${orders.map(() => '?').join(', ')})`,
      orders.map((o) => o.ticketId),
    );
    const ids = new Map(found.map((r) => [r.ticket_id, Number(r.id)]));
    return orders.map((o) => ids.get(o.ticketId) ?? new Error(`order of ticket ${o.ticketId} missing after insert`));
  }
}
