import type { Deps } from '../../deps.ts';
import { notFound } from '../../errors.ts';
import { productOfTicket } from './ids.ts';
import { TERMINAL_STATUSES, TICKET_STATUS_OF_ORDER } from './statuses.ts';

export type TicketView = {
  ticketId: string;
  productId: number;
  status: string;
  position?: number;
  /** Expected wait until the ticket is taken from the queue (ms): see etaMs. */
  etaMs?: number;
  /** A pre-queued ticket's draw (the drop's opensAt): it has no position until then. */
  drawAt?: string;
  orderId?: number;
  reason?: string;
  createdAt: string;
  updatedAt: string;
  pollAfterMs?: number;
};

/** What the ETA of a queued ticket is computed from. */
export type QueueSpeed = { ratePerSecond: number; measuredPerSecond: number };

/**
 * The expected wait of the ticket at `position` (0 = next) until the stock worker takes it:
 * the tickets ahead of it at the drop's admission rate, as measured while the queue was
 * backed up (the configured rate until there is a measurement, and never above it).
 */
export function etaMs(position: number, speed: QueueSpeed): number | undefined {
  const { ratePerSecond: rate, measuredPerSecond: measured } = speed;
  const perSecond = measured > 0 ? (rate > 0 ? Math.min(rate, measured) : measured) : rate;
  if (!(perSecond > 0)) return undefined;
  return Math.ceil(((position + 1) * 1000) / perSecond);
}

/**
 * A pre-queued ticket's ETA before the draw: until the draw, then the wait of the middle
 * place of the pre-queue as it is now (its place is drawn at opensAt).
 */
export function preQueueEtaMs(untilDrawMs: number, preQueued: number, speed: QueueSpeed): number | undefined {
  const after = etaMs(Math.floor(Math.max(0, preQueued - 1) / 2), speed);
  return after === undefined ? undefined : Math.max(0, untilDrawMs) + after;
}

/** How long a client should wait before polling again: about its ETA, between 250 ms and 5 s. */
export function pollAfterMs(status: string, eta: number | undefined): number | undefined {
  if (TERMINAL_STATUSES.has(status)) return undefined;
  if (status !== 'queued' || eta === undefined) return 500;
  return Math.min(5000, Math.max(250, eta));
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The owner's view of a ticket: from Redis while it is live (one round trip: ticket,
 * place and rate), from the MySQL ledger after Redis forgot it. Anyone else gets 404.
 */
export async function readTicket(deps: Pick<Deps, 'tickets' | 'orders' | 'events'>, ticketId: string, userId: string): Promise<TicketView> {
  const productId = productOfTicket(ticketId);
  if (productId === null) throw notFound('Ticket');
  const { ticket: t, rank, speed, opensAtMs, preQueued, nowMs } = await deps.tickets.withPlace(productId, ticketId);
  if (!t) return readFromLedger(deps, ticketId, productId, userId);
  if (t.userId !== userId) throw notFound('Ticket');
  const queued = t.status === 'queued' && rank !== null;
  // Before the draw a pre-queued ticket has no place yet (the seed is still secret).
  const beforeDraw = queued && t.seq < 0 && opensAtMs > nowMs;
  const position = queued && !beforeDraw ? rank : undefined;
  const eta = !queued ? undefined : beforeDraw ? preQueueEtaMs(opensAtMs - nowMs, preQueued, speed) : etaMs(rank, speed);
  const poll = pollAfterMs(t.status, eta);
  return {
    ticketId,
    productId,
    status: t.status,
    ...(position !== undefined && { position }),
    ...(eta !== undefined && { etaMs: eta }),
    ...(beforeDraw && { drawAt: iso(opensAtMs) }),
    ...(t.orderId !== null && { orderId: t.orderId }),
    ...(t.reason && { reason: t.reason }),
    createdAt: iso(t.createdAt),
    updatedAt: iso(t.updatedAt), // a ticket is written once at the door, updated after
    ...(poll !== undefined && { pollAfterMs: poll }),
  };
}

async function readFromLedger(deps: Pick<Deps, 'orders' | 'events'>, ticketId: string, productId: number, userId: string): Promise<TicketView> {
  const order = await deps.orders.ofTicket(ticketId);
  if (order) {
    if (order.userId !== userId) throw notFound('Ticket');
    return {
      ticketId,
      productId,
      status: TICKET_STATUS_OF_ORDER[order.status],
      orderId: order.id,
      createdAt: order.createdAt.toISOString(),
      updatedAt: order.updatedAt.toISOString(),
    };
  }
  // A ticket that ended without an order: the drop's event log says how.
  const last = await deps.events.lastOfTicket(productId, ticketId);
  if (!last || last.userId !== userId) throw notFound('Ticket');
  const status = last.type === 'settled' ? last.extra : last.type;
  if (!TERMINAL_STATUSES.has(status)) throw notFound('Ticket');
  return {
    ticketId, productId, status, ...(last.extra && status !== 'settled' && last.type !== 'settled' && { reason: last.extra }),
    createdAt: iso(last.firstMs), updatedAt: iso(last.atMs),
  };
}
