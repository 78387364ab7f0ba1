import type { Orm } from '../db/orm.ts';
import type { NewOrder } from './orders.ts';

/** Rows per insert; far above what one event-loop turn of the stock worker produces. */
const MAX_BATCH = 200;

type Waiter = { order: NewOrder; resolve: (id: number) => void; reject: (err: Error) => void };

/**
 * Creates pending orders in batches: the orders that concurrent stock-worker jobs ask
 * for in the same event-loop turn go to MySQL as one multi-row insert and one select
 * of their ids, instead of one autocommitted insert (and one log flush) each.
 *
 * Idempotent per ticket (`ticket_id` is unique;
 * a ticket already in the ledger keeps its row and id), and each caller's promise
 * settles only once its row is committed, so a job never completes before its order
 * exists. A failed batch rejects every caller in it, and their jobs retry.
 */
export class PendingOrders {
  private readonly orm: Orm;
  private queue: Waiter[] = [];
  private scheduled = false;

  constructor(orm: Orm) {
    this.orm = orm;
  }

  /** The id of the ticket's pending order, created if it does not exist yet. */
  ensure(order: NewOrder): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ order, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.write(batch.map((w) => w.order)).then(
        (ids) => batch.forEach((w) => {
          const id = ids.get(w.order.ticketId);
          if (id === undefined) w.reject(new Error(`order of ticket ${w.order.ticketId} missing after insert`));
          else w.resolve(id);
        }),
        (err: Error) => batch.forEach((w) => w.reject(err)),
      );
    }
  }

  private async write(orders: NewOrder[]): Promise<Map<string, number>> {
    const connection = this.orm.em.getConnection();
    const now = new Date();
    const rows = orders.map(() => `(?, ?, ?, ?, ?, ?, 'pending', ?, ?)`).join(', ');
    await connection.execute(
      `insert into orders (ticket_id, user_id, product_id, quantity, amount_minor, currency, status, created_at, updated_at)
       values ${rows} on duplicate key update id = id`,
      orders.flatMap((o) => [o.ticketId, o.userId, o.productId, o.quantity, o.amountMinor, o.currency, now, now]),
      'run',
    );
    const found: { id: number; ticket_id: string }[] = await connection.execute(
      `select id, ticket_id from orders where ticket_id in (${orders.map(() => '?').join(', ')})`,
      orders.map((o) => o.ticketId),
    );
    return new Map(found.map((r) => [r.ticket_id, Number(r.id)]));
  }
}
