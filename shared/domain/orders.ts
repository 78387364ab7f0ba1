import type { Orm } from '../db/orm.ts';
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
};

/** Settles a pending order; a settled order keeps its status (returns false). */
export async function settleOrder(orm: Orm, ticketId: string, status: Exclude<OrderStatus, 'pending'>): Promise<boolean> {
  const res = await orm.em.getConnection().execute(
    `update orders set status = ?, updated_at = ? where ticket_id = ? and status = 'pending'`,
    [status, new Date(), ticketId],
    'run',
  );
  return Number((res as unknown as { affectedRows: number }).affectedRows) > 0;
}

/** The order status a terminal ticket status implies, if the ticket has an order. */
export const ORDER_STATUS_OF_TICKET: Record<string, Exclude<OrderStatus, 'pending'> | undefined> = {
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
