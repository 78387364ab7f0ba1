import type { Orm } from '../db/orm.ts';
import { Batcher, onePer } from '../db/batcher.ts';
import { OrderSchema, type Order, type OrderStatus } from '../db/entities/order.entity.ts';
import { PaymentSchema, type Payment } from '../db/entities/payment.entity.ts';
import { notFound } from '../errors.ts';

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

type SettledStatus = Exclude<OrderStatus, 'pending'>;

type Settle = { ticketId: string; status: SettledStatus };

/**
 * Settles a pending order; a settled order keeps its status (returns false). True only
 * for the call that changed the row. Concurrent calls share one transaction (see
 * orderSettles); resolves once the change is committed.
 */
export function settleOrder(orm: Orm, ticketId: string, status: SettledStatus): Promise<boolean> {
  return orderSettles(orm).add({ ticketId, status });
}

/** MySQL's "deadlock found": InnoDB rolled the whole transaction back, so it may run again. */
const ER_LOCK_DEADLOCK = 1213;

/**
 * The settles of one event-loop turn in one transaction: lock the batch's orders that are
 * still pending (`for update`, so nobody settles them in between), then one update per
 * target status. A ticket asked for twice gets the first call's status, and only that call
 * learns it changed the row, as if the calls had run one after the other.
 */
const orderSettles = onePer((orm: Orm) => new Batcher<Settle, boolean>(async (settles) => {
  const first = new Map<string, Settle>();
  for (const s of settles) if (!first.has(s.ticketId)) first.set(s.ticketId, s);
  // Locks are taken in index order, but a stock-worker insert can meet them in another
  // order; a deadlock is rare and cheaper to retry here than as up to 200 failed jobs.
  for (let attempt = 1; ; attempt++) {
    try {
      const changed = await settlePending(orm, first);
      return settles.map((s) => first.get(s.ticketId) === s && changed.has(s.ticketId));
    } catch (err) {
      if (attempt >= 3 || (err as { errno?: number }).errno !== ER_LOCK_DEADLOCK) throw err;
    }
  }
}));

/** Settles those of the orders that are pending, each to its call's status; returns their tickets. */
async function settlePending(orm: Orm, calls: Map<string, Settle>): Promise<Set<string>> {
  const connection = orm.em.getConnection();
  return connection.transactional(async (trx) => {
    const ids = [...calls.keys()];
    const pending: { ticket_id: string }[] = await connection.execute(
      `select ticket_id from orders where status = 'pending' and ticket_id in (${ids.map(() => '?').join(', ')}) for update`,
      ids, 'all', trx,
    );
    const byStatus = new Map<SettledStatus, string[]>();
    for (const { ticket_id } of pending) {
      // A row found only through the column's case-insensitive collation is not one asked for.
      const status = calls.get(ticket_id)?.status;
      if (!status) continue;
      const group = byStatus.get(status);
      if (group) group.push(ticket_id);
      else byStatus.set(status, [ticket_id]);
    }
    const now = new Date();
    for (const [status, tickets] of byStatus) {
      const res = await connection.execute(
        `update orders set status = ?, updated_at = ? where status = 'pending' and ticket_id in (${tickets.map(() => '?').join(', ')})`,
        [status, now, ...tickets], 'run', trx,
      );
      // The rows are locked, so this cannot differ; if it did, the answers would be wrong: roll back.
      const affected = Number((res as unknown as { affectedRows: number }).affectedRows);
      if (affected !== tickets.length) throw new Error(`settled ${affected} of ${tickets.length} locked pending orders`);
    }
    return new Set([...byStatus.values()].flat());
  });
}

/** The order status a terminal ticket status implies, if the ticket has an order. */
export const ORDER_STATUS_OF_TICKET: Record<string, SettledStatus | undefined> = {
  paid: 'paid',
  payment_failed: 'failed',
  expired: 'expired',
};

export function orderView(o: Order, payment?: Payment) {
  return {
    id: o.id,
    ticketId: o.ticketId,
    productId: o.productId,
    quantity: o.quantity,
    amount: o.amountMinor / 100,
    currency: o.currency,
    status: o.status,
    payment: payment
      ? {
          status: payment.status,
          attempts: payment.attempts,
          reference: payment.providerReference,
          ...(payment.declineReason && { declineReason: payment.declineReason }),
          ...(payment.refundReference && { refundReference: payment.refundReference }),
        }
      : null,
    createdAt: o.createdAt.toISOString(),
    updatedAt: o.updatedAt.toISOString(),
  };
}

/** The buyer's orders, newest first, each with what the payment provider did. */
export async function listOrders(orm: Orm, userId: string) {
  const em = orm.em.fork();
  const orders = await em.find(OrderSchema, { userId }, { orderBy: { id: 'desc' }, limit: 200 });
  const payments = orders.length ? await em.find(PaymentSchema, { ticketId: { $in: orders.map((o) => o.ticketId) } }) : [];
  const byTicket = new Map(payments.map((p) => [p.ticketId, p]));
  return orders.map((o) => orderView(o, byTicket.get(o.ticketId)));
}

export async function getOrder(orm: Orm, userId: string, id: number) {
  const em = orm.em.fork();
  const order = await em.findOne(OrderSchema, { id });
  if (!order || order.userId !== userId) throw notFound('Order');
  const payment = await em.findOne(PaymentSchema, { ticketId: order.ticketId });
  return orderView(order, payment ?? undefined);
}
