import type { OrderStatus } from '../../db/entities/order.entity.ts';

/** Every status a ticket can have; the last five are terminal and never change. */
export const TICKET_STATUSES = ['queued', 'reserved', 'paid', 'sold_out', 'payment_failed', 'expired', 'rejected'] as const;
export type TicketStatus = (typeof TICKET_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['paid', 'sold_out', 'payment_failed', 'expired', 'rejected']);

/** A ticket's status as its order says it: a ticket with an order got units. */
export const TICKET_STATUS_OF_ORDER: Record<OrderStatus, TicketStatus> = {
  pending: 'reserved',
  paid: 'paid',
  failed: 'payment_failed',
  expired: 'expired',
};

/** The order status a terminal ticket status implies, if the ticket has an order. */
export const ORDER_STATUS_OF_TICKET: Partial<Record<string, Exclude<OrderStatus, 'pending'>>> = {
  paid: 'paid',
  payment_failed: 'failed',
  expired: 'expired',
};
