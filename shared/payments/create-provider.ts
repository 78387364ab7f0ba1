import type { RedisClient } from '../redis/client.ts';
import type { Config } from '../config.ts';
import type { Keys } from '../redis/keys.ts';
import type { PaymentProvider } from './provider.ts';
import { SimulatedProvider } from './simulated.provider.ts';

/**
 * The payment provider of this deployment: the simulated one, whose ledger lives in
 * Redis (by default the system's, or the one `PAYMENT_SIM_REDIS_URL` names: a card
 * network's ledger does not vanish with ours). A real provider plugs in here.
 */
export function createPaymentProvider(config: Config, redis: RedisClient, keys: Keys): PaymentProvider {
  // One hash tag for the whole ledger: a lookup reads its charge and refund together.
  return new SimulatedProvider(redis, `${keys.prefix}:{sim}`, {
    latencyMs: config.PAYMENT_LATENCY_MS,
    failureRate: config.PAYMENT_FAILURE_RATE,
    slowMs: config.PAYMENT_HOLD_MS + 1000,
  });
}
