import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

export const ORDER_STATUSES = ['pending', 'paid', 'failed', 'expired'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/**
 * The ledger: one row per ticket that got stock (unique `ticketId`), created pending by
 * the stock worker and settled by the payment or expiry step.
 */
export const OrderSchema = defineEntity({
  name: 'Order',
  tableName: 'orders',
  indexes: [{ name: 'orders_product_id_status_index', properties: ['productId', 'status'] }],
  properties: {
    id: p.integer().primary().autoincrement(),
    ticketId: p.string().length(64).unique(),
    userId: p.string().length(128).index(),
    productId: p.integer(),
    quantity: p.integer(),
    amountMinor: p.integer(),
    currency: p.string().length(3),
    status: p.enum(ORDER_STATUSES),
    createdAt: p.datetime().length(3).onCreate(() => new Date()),
    updatedAt: p.datetime().length(3).onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type Order = InferEntity<typeof OrderSchema>;
