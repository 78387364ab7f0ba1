import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { Keys } from '../redis/keys.ts';
import { SimulatedProvider } from './simulated.provider.ts';

export type ChargeRequest = {
  /** The ticket id: the provider charges one key at most once, however often asked. */
  idempotencyKey: string;
  amountMinor: number;
  currency: string;
  paymentMethod: string;
};

export type ChargeResult = { outcome: 'succeeded'; reference: string } | { outcome: 'declined'; reason: string };

export type RefundRequest = { idempotencyKey: string; reference: string; amountMinor: number; currency: string };

/** A failure worth retrying (timeouts, 5xx from the provider); declines are results. */
export class TransientPaymentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientPaymentError';
  }
}

/** What a real payment provider plugs into. Both calls must be idempotent by key. */
export interface PaymentProvider {
  charge(req: ChargeRequest): Promise<ChargeResult>;
  refund(req: RefundRequest): Promise<{ reference: string }>;
}

export function createPaymentProvider(config: Config, redis: Redis, keys: Keys): PaymentProvider {
  return new SimulatedProvider(redis, `${keys.prefix}:sim`, {
    latencyMs: config.PAYMENT_LATENCY_MS,
    failureRate: config.PAYMENT_FAILURE_RATE,
    slowMs: config.PAYMENT_HOLD_MS + 1000,
  });
}
