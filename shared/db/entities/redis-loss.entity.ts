import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/**
 * One time Redis was found to have lost a product (its state was rebuilt from the
 * ledger), with what was lost: tickets that only Redis knew, as its last snapshot of the
 * product counted them. Tickets admitted after that snapshot are lost too and not counted.
 */
export const RedisLossSchema = defineEntity({
  name: 'RedisLoss',
  tableName: 'redis_losses',
  indexes: [{ name: 'redis_losses_product_id_detected_at_index', properties: ['productId', 'detectedAt'] }],
  properties: {
    id: p.integer().primary().autoincrement(),
    productId: p.integer(),
    detectedAt: p.datetime().length(3),
    /** When the snapshot the counts come from was taken; null when there was none. */
    snapshotAt: p.datetime().length(3).nullable(),
    /** Tickets queued at the snapshot: they had no order row, so they are gone (404). */
    queuedLost: p.integer(),
    /** Tickets that had ended without an order (sold out, rejected): their answers are gone. */
    endedLost: p.integer(),
    /** The product's admission sequence at the snapshot. */
    admittedAtSnapshot: p.integer(),
    /** Pending orders whose holds were given back (their buyers can still pay). */
    restoredHolds: p.integer(),
  },
});

export type RedisLoss = InferEntity<typeof RedisLossSchema>;
