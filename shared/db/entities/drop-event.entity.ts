import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/**
 * One decision about a drop, drained from its log in Redis (docs/event-log.md): the
 * durable record the audit replays. The key is the stream entry id, so a drain that is
 * repeated writes nothing twice.
 */
export const DropEventSchema = defineEntity({
  name: 'DropEvent',
  tableName: 'drop_events',
  indexes: [{ name: 'drop_events_product_id_ticket_id_index', properties: ['productId', 'ticketId'] }],
  properties: {
    productId: p.integer().primary(),
    eventMs: p.bigint('number').primary(),
    eventSeq: p.integer().primary(),
    type: p.string().length(20),
    ticketId: p.string().length(64).collation('utf8mb4_bin'),
    userId: p.string().length(128).collation('utf8mb4_bin'),
    qty: p.integer(),
    orderKey: p.string().length(24),
    extra: p.string().length(1000),
    hash: p.string().length(40),
  },
});

/** Refusals at a drop's door, counted by code (they are counted, not logged one by one). */
export const DropRefusalSchema = defineEntity({
  name: 'DropRefusal',
  tableName: 'drop_refusals',
  properties: {
    productId: p.integer().primary(),
    code: p.string().length(32).primary(),
    count: p.bigint('number'),
  },
});

export type DropEvent = InferEntity<typeof DropEventSchema>;
