import type { Config } from '../../config.ts';
import type { Deps } from '../../deps.ts';
import type { Product } from '../../db/entities/product.entity.ts';

export type OperatorSettings = { paused?: boolean; ratePerSecond?: number };

/**
 * A drop's admission rate in tickets per second: what the operator set, or the default.
 * The stock worker's token bucket (reserve.lua) is the one place it is enforced.
 */
export function admissionRate(config: Config, product: Pick<Product, 'admissionRatePerSec'>): number {
  return product.admissionRatePerSec ?? config.ADMISSION_RATE_PER_SEC;
}

/**
 * The operator's settings of a product, applied to its live state: the product hash
 * (`paused` closes the door; `rate` is what the stock worker's token bucket spends) and,
 * for a drop, its admission queue (paused, its queued tickets wait in place). One
 * function for pause, rate and the rebuild, which all apply what MySQL holds.
 */
export async function applyOperatorSettings(deps: Pick<Deps, 'productState' | 'queues'>, product: Product, settings: OperatorSettings) {
  const live: Record<string, number> = {};
  if (settings.paused !== undefined) live.paused = settings.paused ? 1 : 0;
  if (settings.ratePerSecond !== undefined) live.rate = settings.ratePerSecond;
  // Only onto the live state as it is: a product Redis lost is rebuilt from MySQL, written first.
  if (Object.keys(live).length) await deps.productState.setLive(product.id, live);
  if (product.type !== 'reserve') return;
  const queue = deps.queues.admission(product.type, product.id);
  if (settings.paused !== undefined) await (settings.paused ? queue.pause() : queue.resume());
  // Versions before one limiter also held the queue to a jobs-per-second limit: lift it.
  if (settings.ratePerSecond !== undefined) await queue.removeGlobalRateLimit();
}
