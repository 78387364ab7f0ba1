import type { Deps } from '../../deps.ts';
import { notFound } from '../../errors.ts';
import { productOfTicket } from './ids.ts';
import { TERMINAL_STATUSES, TICKET_STATUS_OF_ORDER } from './statuses.ts';

export type TicketView = {
  ticketId: string;
  productId: number;
  status: string;
  position?: number;
  orderId?: number;
  reason?: string;
  createdAt: string;
  updatedAt: string;
  pollAfterMs?: number;
};

/** How long a client should wait before polling again: longer the further back it is. */
export function pollAfterMs(status: string, position: number | undefined, ratePerSecond: number): number | undefined {
  if (TERMINAL_STATUSES.has(status)) return undefined;
  if (status !== 'queued' || position === undefined) return 500;
  return Math.min(5000, Math.max(250, Math.round((position / Math.max(ratePerSecond, 1)) * 1000)));
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The owner's view of a ticket: from Redis while it is live (one round trip: ticket,
 * place and rate), from the MySQL ledger after Redis forgot it. Anyone else gets 404.
 */
export async function readTicket(deps: Pick<Deps, 'tickets' | 'orders'>, ticketId: string, userId: string): Promise<TicketView> {
  const productId = productOfTicket(ticketId);
  if (productId === null) throw notFound('Ticket');
  const { ticket: t, rank, ratePerSecond } = await deps.tickets.withPlace(productId, ticketId);
  if (!t) return readFromLedger(deps, ticketId, productId, userId);
  if (t.userId !== userId) throw notFound('Ticket');
  const position = t.status === 'queued' && rank !== null ? rank : undefined;
  const poll = pollAfterMs(t.status, position, ratePerSecond);
  return {
    ticketId,
    productId,
    status: t.status,
    ...(position !== undefined && { position }),
    ...(t.orderId !== null && { orderId: t.orderId }),
    ...(t.reason && { reason: t.reason }),
    createdAt: iso(t.createdAt),
    updatedAt: iso(t.updatedAt), // a ticket is written once at the door, updated after
    ...(poll !== undefined && { pollAfterMs: poll }),
  };
}

async function readFromLedger(deps: Pick<Deps, 'orders'>, ticketId: string, productId: number, userId: string): Promise<TicketView> {
  const order = await deps.orders.ofTicket(ticketId);
  if (!order || order.userId !== userId) throw notFound('Ticket');
  return {
    ticketId,
    productId,
    status: TICKET_STATUS_OF_ORDER[order.status],
    orderId: order.id,
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}
