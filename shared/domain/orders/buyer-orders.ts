import type { Deps } from '../../deps.ts';
import type { Order } from '../../db/entities/order.entity.ts';
import type { Payment } from '../../db/entities/payment.entity.ts';
import { notFound } from '../../errors.ts';
import { ORDER_STATUS_OF_TICKET } from '../tickets/statuses.ts';

type Found = { order: Order; payment?: Payment };

/** The public shape of an order, with what the payment provider did. */
export function orderView(o: Order, payment?: Payment, status: Order['status'] = o.status) {
  return {
    id: o.id,
    ticketId: o.ticketId,
    productId: o.productId,
    quantity: o.quantity,
    amount: o.amountMinor / 100,
    currency: o.currency,
    status,
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

/**
 * An order as its buyer should see it. Redis decides a ticket's end and the worker then
 * settles its order row, so for a moment a ticket can be paid (or failed, or expired) while
 * its row still says pending; the worker, or its retry, always catches the row up. A pending
 * row is shown with the status its ticket's end implies, so a buyer who saw the ticket paid
 * never reads that order as pending.
 */
async function view(deps: Pick<Deps, 'tickets'>, { order, payment }: Found) {
  if (order.status !== 'pending') return orderView(order, payment);
  const ended = ORDER_STATUS_OF_TICKET[(await deps.tickets.status(order.productId, order.ticketId)) ?? ''];
  return orderView(order, payment, ended ?? order.status);
}

/** The buyer's orders, newest first. */
export async function listOrders(deps: Pick<Deps, 'orders' | 'tickets'>, userId: string) {
  return Promise.all((await deps.orders.listForUser(userId)).map((found) => view(deps, found)));
}

/** One of the buyer's orders; anyone else's is not found. */
export async function getOrder(deps: Pick<Deps, 'orders' | 'tickets'>, userId: string, id: number) {
  const found = await deps.orders.getForUser(userId, id);
  if (!found) throw notFound('Order');
  return view(deps, found);
}
