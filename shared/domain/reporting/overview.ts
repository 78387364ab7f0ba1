import type { Deps } from '../../deps.ts';
import type { ProductType } from '../../db/entities/product.entity.ts';
import { EXPIRY_QUEUE, GENERAL_PAYMENT_QUEUE, GENERAL_QUEUE, admissionQueueName, dropPaymentQueueName, paymentQueueName, reserveQueueName } from '../../queues/queues.ts';
import { LIVE_FIELDS, parseLive, type LiveState } from '../products/live-state.ts';

/** Queue states an operator watches; `waiting` includes prioritized jobs. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;
export type QueueDepth = Record<(typeof QUEUE_STATES)[number], number>;

export type ProductState = LiveState & {
  id: number;
  type: ProductType;
  /** Tickets admitted at the door since the product was loaded (the admission sequence). */
  admitted: number;
  /** The admission queue this product's tickets wait in. */
  queue: string;
  /** The payment queue of its reserved tickets (a drop's own, or the general one). */
  paymentQueue: string;
};

export type Overview = { serverTimeMs: number; products: ProductState[]; queues: Record<string, QueueDepth> };

type OverviewDeps = Pick<Deps, 'productState' | 'queues'>;

/** Every queue of the system: the shared ones, then each drop's admission and payment queues. */
export function queueNames(reserveIds: number[]): string[] {
  return [GENERAL_QUEUE, GENERAL_PAYMENT_QUEUE, EXPIRY_QUEUE, ...reserveIds.flatMap((id) => [reserveQueueName(id), dropPaymentQueueName(id)])];
}

/** Ids of the loaded reserve products (each has its own admission queue). */
export async function reserveProductIds(deps: Pick<Deps, 'productState'>): Promise<number[]> {
  const ids = await deps.productState.registered();
  const read = await deps.productState.fields(ids, ['type']);
  return ids.filter((_, i) => read[i].values[0] === 'reserve');
}

/**
 * The live state of every loaded product and the depth of every queue, from Redis only:
 * one round trip for the product ids, one pipeline for all product hashes and the clock,
 * then the queues' counts in parallel. Read by the metrics scrape and the live dashboard.
 */
export async function overview(deps: OverviewDeps): Promise<Overview> {
  const ids = await deps.productState.registered();
  const read = await deps.productState.fields(ids, [...LIVE_FIELDS, 'type', 'seq']);
  // One instant for the frame: the latest of the products' clocks (they differ by the skew between shards).
  const serverTimeMs = Math.max(0, ...read.map((r) => r.serverTimeMs)) || Date.now();
  const products: ProductState[] = [];
  ids.forEach((id, i) => {
    const { values } = read[i];
    const live = parseLive(values.slice(0, LIVE_FIELDS.length));
    if (!live) return;
    const type: ProductType = values[LIVE_FIELDS.length] === 'general' ? 'general' : 'reserve';
    const admitted = Number(values[LIVE_FIELDS.length + 1] ?? 0);
    products.push({ ...live, id, type, admitted, queue: admissionQueueName(type, id), paymentQueue: paymentQueueName(type, id) });
  });

  const names = queueNames(products.filter((p) => p.type === 'reserve').map((p) => p.id));
  const counts = await Promise.all(
    names.map((name) => deps.queues.get(name).getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed')),
  );
  const queues: Record<string, QueueDepth> = {};
  names.forEach((name, i) => {
    const c = counts[i];
    queues[name] = {
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0,
    };
  });
  return { serverTimeMs, products, queues };
}
