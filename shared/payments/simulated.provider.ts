import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import {
  TransientPaymentError,
  type ChargeRequest,
  type ChargeResult,
  type PaymentProvider,
  type RefundRequest,
} from './provider.ts';

export type SimulationOptions = {
  latencyMs: number;
  /** Chance that a charge with an unnamed method fails transiently. */
  failureRate: number;
  /** How long `pm_card_slow` takes: longer than the payment hold window. */
  slowMs: number;
};

/** `pm_card_flaky` fails this many times for a key before it succeeds. */
export const FLAKY_FAILURES = 2;

/**
 * A payment provider that behaves like a card network's test cards. Its own ledger is
 * in Redis (under `<prefix>:`) so that idempotency holds across worker processes:
 * a key is charged at most once and every call is counted, for tests to check.
 */
export class SimulatedProvider implements PaymentProvider {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly opts: SimulationOptions;

  constructor(redis: Redis, prefix: string, opts: SimulationOptions) {
    this.redis = redis;
    this.prefix = prefix;
    this.opts = opts;
  }

  async charge(req: ChargeRequest): Promise<ChargeResult> {
    const calls = await this.redis.hincrby(`${this.prefix}:calls`, req.idempotencyKey, 1);
    await sleep(req.paymentMethod === 'pm_card_slow' ? this.opts.slowMs : this.opts.latencyMs);
    if (req.paymentMethod === 'pm_card_declined') return { outcome: 'declined', reason: 'card_declined' };
    if (req.paymentMethod === 'pm_card_flaky' && calls <= FLAKY_FAILURES) {
      throw new TransientPaymentError('simulated provider timeout');
    }
    const named = req.paymentMethod.startsWith('pm_card_');
    if (!named && Math.random() < this.opts.failureRate) throw new TransientPaymentError('simulated provider error');
    const reference = `ch_${randomBytes(8).toString('hex')}`;
    const created = await this.redis.hsetnx(`${this.prefix}:charges`, req.idempotencyKey, `${reference}:${req.amountMinor}`);
    if (created) return { outcome: 'succeeded', reference };
    const existing = (await this.redis.hget(`${this.prefix}:charges`, req.idempotencyKey)) ?? '';
    return { outcome: 'succeeded', reference: existing.split(':')[0] };
  }

  async refund(req: RefundRequest): Promise<{ reference: string }> {
    const reference = `re_${randomBytes(8).toString('hex')}`;
    await this.redis.hsetnx(`${this.prefix}:refunds`, req.idempotencyKey, `${reference}:${req.amountMinor}`);
    const stored = (await this.redis.hget(`${this.prefix}:refunds`, req.idempotencyKey)) ?? reference;
    return { reference: stored.split(':')[0] };
  }
}
