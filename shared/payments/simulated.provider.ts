import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
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

const SIM_CHARGE = 'drop_simCharge';
type SimCommands = Record<typeof SIM_CHARGE, (...args: (string | number)[]) => Promise<[number, string, string | null]>>;

/** `pm_card_flaky` fails this many times for a key before it succeeds. */
export const FLAKY_FAILURES = 2;

/**
 * A payment provider that behaves like a card network's test cards. Its own ledger is
 * in Redis (under `<prefix>:`) so that idempotency holds across worker processes:
 * a key is charged at most once and every call is counted, for tests to check.
 *
 * A charge is one call to its ledger (sim-charge.lua), as a real provider's is one request:
 * four round trips of ours per charge made the simulation, not the system, a third of
 * the Redis commands of a sale.
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
    redis.defineCommand(SIM_CHARGE, { numberOfKeys: 3, lua: readFileSync(new URL('./sim-charge.lua', import.meta.url), 'utf8') });
    this.redis = redis;
    this.prefix = prefix;
    this.opts = opts;
  }

  async charge(req: ChargeRequest): Promise<ChargeResult> {
    const answer = (ms: number) => sleep(req.paymentMethod === 'pm_card_slow' ? this.opts.slowMs : ms);
    const method = req.paymentMethod;
    const mode = method === 'pm_card_declined' ? 'declined' : method === 'pm_card_flaky' ? 'flaky'
      : !method.startsWith('pm_card_') && Math.random() < this.opts.failureRate ? 'transient' : '';
    const fresh = `ch_${randomBytes(8).toString('hex')}:${req.amountMinor}`;
    const [, said, charge] = await (this.redis as unknown as SimCommands)[SIM_CHARGE](
      `${this.prefix}:calls`, `${this.prefix}:refunds`, `${this.prefix}:charges`, req.idempotencyKey, mode, FLAKY_FAILURES, fresh,
    );
    await answer(this.opts.latencyMs);
    if (said === 'refunded') return { outcome: 'declined', reason: 'charge_refunded' };
    if (said === 'declined') return { outcome: 'declined', reason: 'card_declined' };
    if (said === 'transient') throw new TransientPaymentError('simulated provider timeout');
    return { outcome: 'succeeded', reference: (charge ?? fresh).split(':')[0] };
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
