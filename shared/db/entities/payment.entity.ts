import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

export const PAYMENT_STATUSES = ['succeeded', 'declined', 'refunded'] as const;

/**
 * What the payment provider did for one ticket: the charge (or decline) with its
 * reference and how many attempts it took, and the refund of a charge that came too late.
 */
export const PaymentSchema = defineEntity({
  name: 'Payment',
  tableName: 'payments',
  properties: {
    id: p.integer().primary().autoincrement(),
    ticketId: p.string().length(64).unique().collation('utf8mb4_bin'),
    orderId: p.integer().index(),
    status: p.enum(PAYMENT_STATUSES),
    amountMinor: p.bigint('number'),
    currency: p.string().length(3),
    attempts: p.integer(),
    providerReference: p.string().length(100).nullable(),
    declineReason: p.string().length(100).nullable(),
    refundReference: p.string().length(100).nullable(),
    createdAt: p.datetime().length(3).onCreate(() => new Date()),
    updatedAt: p.datetime().length(3).onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type Payment = InferEntity<typeof PaymentSchema>;
