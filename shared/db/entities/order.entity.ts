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
  indexes: [
    { name: 'orders_product_id_status_index', properties: ['productId', 'status'] },
    { name: 'orders_status_charge_verified_at_index', properties: ['status', 'chargeVerifiedAt'] },
  ],
  properties: {
    id: p.integer().primary().autoincrement(),
    /** Ticket and user ids are case-sensitive: binary collation, so one never matches the other's rows. */
    ticketId: p.string().length(64).unique().collation('utf8mb4_bin'),
    userId: p.string().length(128).index().collation('utf8mb4_bin'),
    productId: p.integer(),
    quantity: p.integer(),
    amountMinor: p.bigint('number'),
    currency: p.string().length(3),
    status: p.enum(ORDER_STATUSES),
    /** The buyer's payment method, so a hold restored after Redis lost it can still be paid. */
    paymentMethod: p.string().length(64).nullable(),
    /**
     * For an order that ended without a sale: when the payment reconciliation last found
     * the provider holding no charge for it (or refunded the one it held). Null: not yet.
     */
    chargeVerifiedAt: p.datetime().length(3).nullable(),
    createdAt: p.datetime().length(3).onCreate(() => new Date()),
    updatedAt: p.datetime().length(3).onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type Order = InferEntity<typeof OrderSchema>;
