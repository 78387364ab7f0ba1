import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, type TestContext } from '../../setup/context.ts';
import type { FreedUnits } from '../../../shared/redis/scripts.ts';
import { commandsOn, expectConsistent, productScripts } from '../../setup/drop-helpers.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('lua-settle');
});
afterAll(async () => {
  await ctx.close();
});

const drop = async (stock: number, extra: Record<string, unknown> = {}) => productScripts(ctx, (await createDrop(ctx, stock, extra)).id);

describe('settle.lua', () => {
  it('turns a reserved ticket paid: its units move from reserved to sold and stay held by the user', async () => {
    const s = await drop(3, { perUserLimit: 2 });
    const t = await s.admitted('ann', { quantity: 2 });
    await s.reserve(t);
    expect(await s.settle(t)).toEqual({ outcome: 'paid', promoted: [], remaining: 0 });
    expect(await s.status(t)).toBe('paid');
    expect(await ctx.deps.redis.zscore(s.keys.holds, t)).toBeNull();
    expect(await ctx.deps.redis.hget(s.keys.live, 'ann')).toBeNull();
    expect(await s.held()).toEqual({ ann: 2 });
    expect(await ctx.deps.redis.ttl(s.keys.ticketPrefix + t)).toBeGreaterThan(0);
    expect(await expectConsistent(s)).toMatchObject({ available: 1, reserved: 0, sold: 2, t_reserved: 0, t_paid: 1 });
  });

  it('writes the product hash once, however many tickets the call ends, and never a counter at a time', async () => {
    const s = await drop(1);
    const a = await s.admitted('ann');
    await s.reserve(a);
    const parked = [];
    for (const u of ['p1', 'p2', 'p3']) {
      const t = await s.admitted(u);
      expect(await s.reserve(t)).toBe('waiting');
      parked.push(t);
    }
    const commands = await commandsOn(ctx, s.keys.product, () => s.settle(a));
    expect(commands.filter((c) => c !== 'hget' && c !== 'hmget')).toEqual(['hset']);
    for (const t of parked) expect(await s.status(t)).toBe('sold_out');
    expect(await expectConsistent(s)).toMatchObject({ available: 0, reserved: 0, sold: 1, t_paid: 1, t_sold_out: 3, t_queued: 0 });
  });

  it('is idempotent: a second call answers paid and changes nothing', async () => {
    const s = await drop(3);
    const t = await s.admitted('ann');
    await s.reserve(t);
    await s.settle(t);
    const before = await s.state();
    expect(await s.settle(t)).toEqual({ outcome: 'paid', promoted: [], remaining: 0 });
    expect(await s.state()).toEqual(before);
  });

  it('leaves an expired or failed ticket terminal (the late charge is refunded by the caller)', async () => {
    const s = await drop(3);
    const expired = await s.admitted('ann');
    const failed = await s.admitted('bob');
    for (const t of [expired, failed]) await s.reserve(t);
    await s.release(expired, 'expired');
    await s.release(failed, 'payment_failed');
    const before = await s.state();
    expect(await s.settle(expired)).toEqual({ outcome: 'expired', promoted: [], remaining: 0 });
    expect(await s.settle(failed)).toEqual({ outcome: 'payment_failed', promoted: [], remaining: 0 });
    expect(await s.state()).toEqual(before);
    expect(await expectConsistent(s)).toMatchObject({ available: 3, sold: 0, t_expired: 1, t_payment_failed: 1 });
  });

  it('does not pay a ticket that holds nothing yet', async () => {
    const s = await drop(3);
    const t = await s.admitted('ann');
    expect(await s.settle(t)).toEqual({ outcome: 'queued', promoted: [], remaining: 0 });
    expect(await expectConsistent(s)).toMatchObject({ available: 3, sold: 0, t_queued: 1 });
  });

  it('answers missing for a ticket that does not exist', async () => {
    const s = await drop(3);
    expect(await s.settle('1-AAAAAAAAAAAAAAAA')).toEqual({ outcome: 'missing', promoted: [], remaining: 0 });
  });

  it('ends the parked tickets sold_out when the last held unit is paid, a batch at a time', async () => {
    const s = await drop(1);
    const a = await s.admitted('ann');
    await s.reserve(a);
    const parked = [];
    for (const u of ['p1', 'p2', 'p3', 'p4', 'p5']) {
      const t = await s.admitted(u);
      expect(await s.reserve(t)).toBe('waiting');
      parked.push(t);
    }
    // Two heads end while promoting, two more in the sweep; one is left for the next sweep.
    expect(await s.settle(a, 2)).toEqual({ outcome: 'paid', promoted: [], remaining: 1 });
    for (const t of parked.slice(0, 4)) expect(await s.status(t)).toBe('sold_out');
    expect(await s.status(parked[4])).toBe('queued');
    expect(await s.sweep(2)).toBe(0);
    for (const t of parked) expect(await s.status(t)).toBe('sold_out');
    expect(await s.waiting()).toEqual([]);
    expect(await expectConsistent(s)).toMatchObject({ sold: 1, t_paid: 1, t_sold_out: 5, t_queued: 0 });
  });

  it('ends a parked head that can never be served once the units it waited for are sold, and names the ticket it promoted', async () => {
    const s = await drop(2, { perUserLimit: 2 });
    const a = await s.admitted('ann', { quantity: 1 });
    await s.reserve(a);
    const b = await s.admitted('bob', { quantity: 2 });
    const c = await s.admitted('cat', { quantity: 1 });
    expect(await s.reserve(b)).toBe('waiting');
    expect(await s.reserve(c)).toBe('waiting');
    // Once ann pays, bob (2) can never be served; cat (1) takes the unit that is left,
    // and the caller learns it must hand cat on (order, payment) - also on a retry.
    expect(await s.settle(a)).toEqual({ outcome: 'paid', promoted: [c], remaining: 0 });
    expect(await s.status(b)).toBe('sold_out');
    expect(await s.status(c)).toBe('reserved');
    expect(await s.settle(a)).toEqual({ outcome: 'paid', promoted: [c], remaining: 0 });
    expect(await expectConsistent(s)).toMatchObject({ available: 0, reserved: 1, sold: 1 });
  });

  describe('several tickets in one call', () => {
    it('answers each in order as if alone, and writes the product hash once', async () => {
      const s = await drop(4);
      const [a, b, expired, queued] = [await s.admitted('ann'), await s.admitted('bob'), await s.admitted('cat'), await s.admitted('dan')];
      for (const t of [a, b, expired]) await s.reserve(t);
      await s.release(expired, 'expired');
      let answers: FreedUnits[] = [];
      const commands = await commandsOn(ctx, s.keys.product, async () => {
        answers = await s.settleMany([a, expired, '1-AAAAAAAAAAAAAAAA', b, queued, a]);
      });
      expect(answers).toEqual([
        { outcome: 'paid', promoted: [], remaining: 0 }, { outcome: 'expired', promoted: [], remaining: 0 },
        { outcome: 'missing', promoted: [], remaining: 0 }, { outcome: 'paid', promoted: [], remaining: 0 },
        { outcome: 'queued', promoted: [], remaining: 0 }, { outcome: 'paid', promoted: [], remaining: 0 },
      ]);
      expect(commands.filter((c) => c !== 'hget' && c !== 'hmget')).toEqual(['hset']);
      for (const t of [a, b]) expect(await s.status(t)).toBe('paid');
      expect(await expectConsistent(s)).toMatchObject({ available: 2, reserved: 0, sold: 2, t_paid: 2, t_expired: 1, t_queued: 1 });
    });

    it('promotes and sweeps once for the call: what it promoted goes with the last ticket it paid, also on a retry', async () => {
      const s = await drop(3, { perUserLimit: 2 });
      const [a, b] = [await s.admitted('ann'), await s.admitted('bob')];
      for (const t of [a, b]) await s.reserve(t);
      const c = await s.admitted('cat', { quantity: 2 });
      const d = await s.admitted('dan', { quantity: 1 });
      expect(await s.reserve(c)).toBe('waiting');
      expect(await s.reserve(d)).toBe('waiting');
      // Once ann and bob pay, cat (2) can never be served; dan takes the unit that is left.
      expect(await s.settleMany([a, b])).toEqual([
        { outcome: 'paid', promoted: [], remaining: 0 }, { outcome: 'paid', promoted: [d], remaining: 0 },
      ]);
      expect(await s.status(c)).toBe('sold_out');
      expect(await s.status(d)).toBe('reserved');
      expect(await s.settleMany([b, a])).toEqual([
        { outcome: 'paid', promoted: [d], remaining: 0 }, { outcome: 'paid', promoted: [], remaining: 0 },
      ]);
      expect(await expectConsistent(s)).toMatchObject({ available: 0, reserved: 1, sold: 2, t_sold_out: 1 });
    });

    it('answers not_loaded for every ticket when Redis lost the product', async () => {
      const s = await drop(3);
      const [a, b] = [await s.admitted('ann'), await s.admitted('bob')];
      for (const t of [a, b]) await s.reserve(t);
      await ctx.deps.redis.hdel(s.keys.product, 'total');
      expect(await s.settleMany([a, b])).toEqual([
        { outcome: 'not_loaded', promoted: [], remaining: 0 }, { outcome: 'not_loaded', promoted: [], remaining: 0 },
      ]);
      expect(await s.status(a)).toBe('reserved');
    });
  });
});
