import type { Deps } from '../../deps.ts';
import type { Order } from '../../db/entities/order.entity.ts';
import type { Payment } from '../../db/entities/payment.entity.ts';
import { notFound } from '../../errors.ts';

/** The public shape of an order, with what the payment provider did. */
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

/** The buyer's orders, newest first. */
export async function listOrders(deps: Pick<Deps, 'orders'>, userId: string) {
  return (await deps.orders.listForUser(userId)).map(({ order, payment }) => orderView(order, payment));
}

/** One of the buyer's orders; anyone else's is not found. */
export async function getOrder(deps: Pick<Deps, 'orders'>, userId: string, id: number) {
  const found = await deps.orders.getForUser(userId, id);
  if (!found) throw notFound('Order');
  return orderView(found.order, found.payment);
}
