import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../redis/client.ts';
import {
  TransientPaymentError,
  type ChargeRecord,
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
 *
 * As over a real network, a charge is taken when the request arrives and the answer
 * takes the latency to come back: a worker that dies meanwhile leaves a charge it never
 * heard of (which `lookup` finds). `pm_card_slow` answers only after the hold window.
 */
export class SimulatedProvider implements PaymentProvider {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly opts: SimulationOptions;

  constructor(redis: RedisClient, prefix: string, opts: SimulationOptions) {
    this.redis = redis;
    this.prefix = prefix;
    this.opts = opts;
  }

  async charge(req: ChargeRequest): Promise<ChargeResult> {
    const answer = (ms: number) => sleep(req.paymentMethod === 'pm_card_slow' ? this.opts.slowMs : ms);
    const calls = await this.redis.hincrby(`${this.prefix}:calls`, req.idempotencyKey, 1);
    // A key whose charge was refunded stays refunded: charging it again is a decline, never a second sale.
    if (await this.redis.hexists(`${this.prefix}:refunds`, req.idempotencyKey)) {
      await answer(this.opts.latencyMs);
      return { outcome: 'declined', reason: 'charge_refunded' };
    }
    const named = req.paymentMethod.startsWith('pm_card_');
    const failed = req.paymentMethod === 'pm_card_declined' ? 'declined'
      : (req.paymentMethod === 'pm_card_flaky' && calls <= FLAKY_FAILURES) || (!named && Math.random() < this.opts.failureRate) ? 'transient'
        : null;
    if (failed) {
      await answer(this.opts.latencyMs);
      if (failed === 'declined') return { outcome: 'declined', reason: 'card_declined' };
      throw new TransientPaymentError('simulated provider timeout');
    }
    const fresh = `ch_${randomBytes(8).toString('hex')}`;
    await this.redis.hsetnx(`${this.prefix}:charges`, req.idempotencyKey, `${fresh}:${req.amountMinor}`);
    const reference = ((await this.redis.hget(`${this.prefix}:charges`, req.idempotencyKey)) ?? fresh).split(':')[0];
    await answer(this.opts.latencyMs);
    return { outcome: 'succeeded', reference };
  }

  async lookup(idempotencyKey: string): Promise<ChargeRecord | null> {
    const [charge, refund] = await this.redis.pipeline()
      .hget(`${this.prefix}:charges`, idempotencyKey)
      .hget(`${this.prefix}:refunds`, idempotencyKey)
      .exec() ?? [];
    const charged = charge?.[1] as string | null;
    if (!charged) return null;
    const [reference, amount] = charged.split(':');
    const refunded = refund?.[1] as string | null;
    return { reference, amountMinor: Number(amount), refundReference: refunded ? refunded.split(':')[0] : null };
  }

  async refund(req: RefundRequest): Promise<{ reference: string }> {
    const reference = `re_${randomBytes(8).toString('hex')}`;
    await this.redis.hsetnx(`${this.prefix}:refunds`, req.idempotencyKey, `${reference}:${req.amountMinor}`);
    const stored = (await this.redis.hget(`${this.prefix}:refunds`, req.idempotencyKey)) ?? reference;
    return { reference: stored.split(':')[0] };
  }
}
