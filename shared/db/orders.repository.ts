import type { Orm } from './orm.ts';
import { Batcher, type BatchOutcome } from './batcher.ts';
import { OrderSchema, type Order, type OrderStatus } from './entities/order.entity.ts';
import { PaymentSchema, type Payment } from './entities/payment.entity.ts';

export type NewOrder = {
  ticketId: string;
  userId: string;
  productId: number;
  quantity: number;
  amountMinor: number;
  currency: string;
  /** The buyer's payment method (kept so a hold restored after Redis lost it can still be paid). */
  paymentMethod: string;
};

export type SettledStatus = Exclude<OrderStatus, 'pending'>;

/** An order row as the rebuild reads it. */
export type LedgerRow = { id: number; status: OrderStatus; userId: string; ticketId: string; quantity: number; paymentMethod: string | null };

type Settle = { ticketId: string; status: SettledStatus };

/** MySQL's "deadlock found": InnoDB rolled the whole transaction back, so it may run again. */
const ER_LOCK_DEADLOCK = 1213;

/**
 * The order ledger: one row per ticket that got stock. Pending orders are created and
 * orders settled in batches (the calls of one event-loop turn share one statement or
 * transaction, see Batcher); each caller still learns exactly what a statement of its own
 * would have done, once its row is committed.
 */
export class OrdersRepository {
  private readonly orm: Orm;
  private readonly pending: Batcher<NewOrder, number>;
  private readonly settles: Batcher<Settle, boolean>;

  constructor(orm: Orm) {
    this.orm = orm;
    this.pending = new Batcher((orders) => this.insertPending(orders));
    this.settles = new Batcher((settles) => this.settleBatch(settles));
  }

  /** The id of the ticket's pending order, created if it does not exist yet (idempotent per ticket). */
  ensurePending(order: NewOrder): Promise<number> {
    return this.pending.add(order);
  }

  /**
   * Settles a pending order; a settled order keeps its status (false). True only for the
   * call that changed the row.
   */
  settle(ticketId: string, status: SettledStatus): Promise<boolean> {
    return this.settles.add({ ticketId, status });
  }

  /** The buyer's orders, newest first, each with what the payment provider did. */
  async listForUser(userId: string): Promise<{ order: Order; payment?: Payment }[]> {
    const em = this.orm.em.fork();
    const orders = await em.find(OrderSchema, { userId }, { orderBy: { id: 'desc' }, limit: 200 });
    const payments = orders.length ? await em.find(PaymentSchema, { ticketId: { $in: orders.map((o) => o.ticketId) } }) : [];
    const byTicket = new Map(payments.map((p) => [p.ticketId, p]));
    return orders.map((order) => ({ order, payment: byTicket.get(order.ticketId) }));
  }

  /** One order with its payment, or null when it is not this buyer's. */
  async getForUser(userId: string, id: number): Promise<{ order: Order; payment?: Payment } | null> {
    const em = this.orm.em.fork();
    const order = await em.findOne(OrderSchema, { id });
    if (!order || order.userId !== userId) return null;
    const payment = await em.findOne(PaymentSchema, { ticketId: order.ticketId });
    return { order, payment: payment ?? undefined };
  }

  async ofTicket(ticketId: string): Promise<Order | null> {
    return this.orm.em.fork().findOne(OrderSchema, { ticketId });
  }

  /** Every order of a product (the rebuild of its live state reads them). */
  async ofProduct(productId: number): Promise<LedgerRow[]> {
    const rows: { id: number; status: OrderStatus; user_id: string; ticket_id: string; quantity: number; payment_method: string | null }[] =
      await this.sql('select id, status, user_id, ticket_id, quantity, payment_method from orders where product_id = ?', [productId]);
    return rows.map((r) => ({ id: Number(r.id), status: r.status, userId: r.user_id, ticketId: r.ticket_id, quantity: Number(r.quantity), paymentMethod: r.payment_method }));
  }

  /** Pending orders written before `before` (their holds should long have run out). */
  async pendingSince(before: Date, limit: number): Promise<{ ticketId: string; productId: number }[]> {
    const rows: { ticket_id: string; product_id: number }[] = await this.sql(
      `select ticket_id, product_id from orders where status = 'pending' and updated_at < ? order by id limit ?`, [before, limit]);
    return rows.map((r) => ({ ticketId: r.ticket_id, productId: Number(r.product_id) }));
  }

  /** Orders that ended without a sale and were not yet checked at the payment provider. */
  async endedUnchecked(limit: number): Promise<{ id: number; ticketId: string; productId: number; currency: string }[]> {
    const rows: { id: number; ticket_id: string; product_id: number; currency: string }[] = await this.sql(
      `select id, ticket_id, product_id, currency from orders
       where status in ('expired', 'failed') and charge_verified_at is null order by id limit ?`, [limit]);
    return rows.map((r) => ({ id: Number(r.id), ticketId: r.ticket_id, productId: Number(r.product_id), currency: r.currency }));
  }

  async countEndedUnchecked(): Promise<number> {
    const [row]: { n: number }[] = await this.sql(`select count(*) as n from orders where status in ('expired', 'failed') and charge_verified_at is null`);
    return Number(row.n);
  }

  async markChargeVerified(id: number): Promise<void> {
    await this.sql('update orders set charge_verified_at = ? where id = ?', [new Date(), id], 'run');
  }

  /** Paid orders with no payment row: a charge the ledger does not know of. */
  async paidWithoutPayment(limit: number): Promise<{ id: number; ticketId: string; amountMinor: number; currency: string }[]> {
    const rows: { id: number; ticket_id: string; amount_minor: number; currency: string }[] = await this.sql(
      `select o.id, o.ticket_id, o.amount_minor, o.currency from orders o left join payments p on p.ticket_id = o.ticket_id
       where o.status = 'paid' and p.id is null order by o.id limit ?`, [limit]);
    return rows.map((r) => ({ id: Number(r.id), ticketId: r.ticket_id, amountMinor: Number(r.amount_minor), currency: r.currency }));
  }

  /** Units and orders paid and pending, per product (reconcile). */
  async unitsByProduct(): Promise<Map<number, { sold: number; pending: number; paidOrders: number }>> {
    const rows: { product_id: number; status: string; units: string | number; orders: string | number }[] = await this.sql(
      `select product_id, status, sum(quantity) as units, count(*) as orders from orders
       where status in ('paid', 'pending') group by product_id, status`);
    const ledger = new Map<number, { sold: number; pending: number; paidOrders: number }>();
    for (const r of rows) {
      const l = ledger.get(Number(r.product_id)) ?? { sold: 0, pending: 0, paidOrders: 0 };
      if (r.status === 'paid') {
        l.sold = Number(r.units);
        l.paidOrders = Number(r.orders);
      } else l.pending = Number(r.units);
      ledger.set(Number(r.product_id), l);
    }
    return ledger;
  }

  private sql<T = any>(query: string, params: unknown[] = [], method: 'all' | 'run' = 'all'): Promise<T> {
    return this.orm.em.getConnection().execute(query, params, method) as Promise<T>;
  }

  /** One multi-row insert and one select of the ids: a ticket already in the ledger keeps its row and id. */
  private async insertPending(orders: NewOrder[]): Promise<BatchOutcome<number>[]> {
    const now = new Date();
    const rows = orders.map(() => `(?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`).join(', ');
    await this.sql(
      `insert into orders (ticket_id, user_id, product_id, quantity, amount_minor, currency, payment_method, status, created_at, updated_at)
       values ${rows} on duplicate key update id = id`,
      orders.flatMap((o) => [o.ticketId, o.userId, o.productId, o.quantity, o.amountMinor, o.currency, o.paymentMethod, now, now]),
      'run',
    );
    const found: { id: number; ticket_id: string }[] = await this.sql(
      `select id, ticket_id from orders where ticket_id in (${orders.map(() => '?').join(', ')})`, orders.map((o) => o.ticketId));
    const ids = new Map(found.map((r) => [r.ticket_id, Number(r.id)]));
    return orders.map((o) => ids.get(o.ticketId) ?? new Error(`order of ticket ${o.ticketId} missing after insert`));
  }

  /**
   * The settles of one turn in one transaction: lock the batch's orders that are still
   * pending, then one update per target status. A ticket asked for twice gets the first
   * call's status, and only that call learns it changed the row.
   */
  private async settleBatch(settles: Settle[]): Promise<boolean[]> {
    const first = new Map<string, Settle>();
    for (const s of settles) if (!first.has(s.ticketId)) first.set(s.ticketId, s);
    // Locks are taken in index order, but a stock-worker insert can meet them in another
    // order; a deadlock is rare and cheaper to retry here than as up to 200 failed jobs.
    for (let attempt = 1; ; attempt++) {
      try {
        const changed = await this.settlePending(first);
        return settles.map((s) => first.get(s.ticketId) === s && changed.has(s.ticketId));
      } catch (err) {
        if (attempt >= 3 || (err as { errno?: number }).errno !== ER_LOCK_DEADLOCK) throw err;
      }
    }
  }

  private async settlePending(calls: Map<string, Settle>): Promise<Set<string>> {
    const connection = this.orm.em.getConnection();
    return connection.transactional(async (trx) => {
      const ids = [...calls.keys()];
      // By the ticket ids' unique index, always: the optimizer may pick the status index
      // instead (few pending rows among many), and then the lock covers every pending order
      // and the gaps between them, so two concurrent settles of different tickets deadlock
      // (bench/README.md, "A sale in the workers": 43 deadlocks in 500 general sales).
      const pending: { ticket_id: string }[] = await connection.execute(
        `select ticket_id from orders force index (orders_ticket_id_unique)
         where status = 'pending' and ticket_id in (${ids.map(() => '?').join(', ')}) for update`,
        ids, 'all', trx,
      );
      const byStatus = new Map<SettledStatus, string[]>();
      for (const { ticket_id } of pending) {
        const status = calls.get(ticket_id)?.status;
        if (!status) continue;
        byStatus.set(status, [...(byStatus.get(status) ?? []), ticket_id]);
      }
      const now = new Date();
      for (const [status, tickets] of byStatus) {
        const res = await connection.execute(
          `update orders force index (orders_ticket_id_unique) set status = ?, updated_at = ?
           where status = 'pending' and ticket_id in (${tickets.map(() => '?').join(', ')})`,
          [status, now, ...tickets], 'run', trx,
        );
        // The rows are locked, so this cannot differ; if it did, the answers would be wrong: roll back.
        const affected = Number((res as unknown as { affectedRows: number }).affectedRows);
        if (affected !== tickets.length) throw new Error(`settled ${affected} of ${tickets.length} locked pending orders`);
      }
      return new Set([...byStatus.values()].flat());
    });
  }
}
