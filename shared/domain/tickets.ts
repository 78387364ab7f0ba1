import type { Redis } from 'ioredis';
import type { Orm } from '../db/orm.ts';
import { OrderSchema, type Order } from '../db/entities/order.entity.ts';
import { notFound } from '../errors.ts';
import type { Keys } from '../redis/keys.ts';
import { randomId } from '../random-ids.ts';
import { TERMINAL_STATUSES } from './product-state.ts';

/** A ticket id names its product (`<productId>-<random>`) so one key lookup finds it. */
export function newTicketId(productId: number): string {
  return `${productId}-${randomId(12)}`;
}

export function productOfTicket(ticketId: string): number | null {
  const m = /^([1-9][0-9]{0,9})-[A-Za-z0-9_-]{16}$/.exec(ticketId);
  return m ? Number(m[1]) : null;
}

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

const iso = (ms: string | undefined) => new Date(Number(ms ?? 0)).toISOString();

/**
 * The owner's view of a ticket: from Redis while it is live (one round trip: hash,
 * rank and rate), from the MySQL ledger after Redis forgot it. Anyone else gets 404.
 */
export async function readTicket(
  deps: { redis: Redis; keys: Keys; orm: Orm },
  ticketId: string,
  userId: string,
): Promise<TicketView> {
  const productId = productOfTicket(ticketId);
  if (productId === null) throw notFound('Ticket');
  const k = deps.keys.product(productId);
  const replies = await deps.redis
    .pipeline()
    .hgetall(k.ticketPrefix + ticketId)
    .zrank(k.queued, ticketId)
    .hget(k.product, 'rate')
    .exec();
  const t = (replies?.[0]?.[1] ?? {}) as Record<string, string>;
  if (!t.status) return readFromLedger(deps.orm, ticketId, productId, userId);
  if (t.user !== userId) throw notFound('Ticket');
  const rank = replies?.[1]?.[1] as number | null;
  const position = t.status === 'queued' && rank !== null ? rank : undefined;
  const poll = pollAfterMs(t.status, position, Number(replies?.[2]?.[1] ?? 1));
  return {
    ticketId,
    productId,
    status: t.status,
    ...(position !== undefined && { position }),
    ...(t.order && { orderId: Number(t.order) }),
    ...(t.reason && { reason: t.reason }),
    createdAt: iso(t.created),
    updatedAt: iso(t.updated ?? t.created), // a ticket is written once at the door, updated after
    ...(poll !== undefined && { pollAfterMs: poll }),
  };
}

const LEDGER_STATUS: Record<Order['status'], string> = {
  pending: 'reserved',
  paid: 'paid',
  failed: 'payment_failed',
  expired: 'expired',
};

async function readFromLedger(orm: Orm, ticketId: string, productId: number, userId: string): Promise<TicketView> {
  const order = await orm.em.fork().findOne(OrderSchema, { ticketId });
  if (!order || order.userId !== userId) throw notFound('Ticket');
  return {
    ticketId,
    productId,
    status: LEDGER_STATUS[order.status],
    orderId: order.id,
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}
