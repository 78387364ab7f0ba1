import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, type TestContext } from '../../setup/context.ts';
import { expectConsistent, productScripts } from '../../setup/drop-helpers.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('lua-release');
});
afterAll(async () => {
  await ctx.close();
});

const drop = async (stock: number, extra: Record<string, unknown> = {}) => productScripts(ctx, (await createDrop(ctx, stock, extra)).id);

describe('release.lua', () => {
  it('ends a reserved ticket and returns its units exactly once', async () => {
    const s = await drop(3, { perUserLimit: 2 });
    const t = await s.admitted('ann', { quantity: 2 });
    await s.reserve(t);
    expect(await s.release(t, 'payment_failed')).toEqual({ outcome: 'released', promoted: [], remaining: 0 });
    expect(await s.ticket(t)).toMatchObject({ status: 'payment_failed', reason: 'card_declined' });
    expect(await s.held()).toEqual({});
    expect(await ctx.deps.redis.zscore(s.keys.holds, t)).toBeNull();
    expect(await expectConsistent(s)).toMatchObject({ available: 3, reserved: 0, t_reserved: 0, t_payment_failed: 1 });
  });

  it('is idempotent: a retry answers released with the same (empty) list and returns nothing twice', async () => {
    const s = await drop(3);
    const t = await s.admitted('ann');
    await s.reserve(t);
    const first = await s.release(t, 'expired');
    const after = await s.state();
    expect(await s.release(t, 'expired')).toEqual(first);
    expect(await s.state()).toEqual(after);
    expect(after).toMatchObject({ available: 3, t_expired: 1 });
  });

  it('gives the units to the oldest parked tickets and a retry returns the same promoted list', async () => {
    const s = await drop(2, { perUserLimit: 2 });
    const a = await s.admitted('ann', { quantity: 2 });
    await s.reserve(a);
    const parked = [await s.admitted('p1'), await s.admitted('p2'), await s.admitted('p3')];
    for (const t of parked) expect(await s.reserve(t)).toBe('waiting');
    const first = await s.release(a, 'expired');
    expect(first).toEqual({ outcome: 'released', promoted: parked.slice(0, 2), remaining: 0 });
    expect(await s.release(a, 'expired')).toEqual(first);
    for (const t of parked.slice(0, 2)) expect(await s.status(t)).toBe('reserved');
    expect(await s.waiting()).toEqual([parked[2]]);
    expect(await s.held()).toEqual({ p1: 1, p2: 1 });
    expect(await expectConsistent(s)).toMatchObject({ available: 0, reserved: 2, t_reserved: 2, t_expired: 1, t_queued: 1 });
  });

  it('answers paid when the charge won the race, and changes nothing', async () => {
    const s = await drop(3);
    const t = await s.admitted('ann');
    await s.reserve(t);
    await s.settle(t);
    const before = await s.state();
    expect(await s.release(t, 'expired')).toEqual({ outcome: 'paid', promoted: [], remaining: 0 });
    expect(await s.state()).toEqual(before);
    expect(before).toMatchObject({ sold: 1, available: 2 });
  });

  it('answers the other terminal status when the ticket was already released another way', async () => {
    const s = await drop(3);
    const t = await s.admitted('ann');
    await s.reserve(t);
    await s.release(t, 'payment_failed');
    const before = await s.state();
    expect(await s.release(t, 'expired')).toEqual({ outcome: 'payment_failed', promoted: [], remaining: 0 });
    expect(await s.state()).toEqual(before);
  });

  it('leaves a queued ticket alone (it holds nothing to give back)', async () => {
    const s = await drop(3);
    const t = await s.admitted('ann');
    expect(await s.release(t, 'expired')).toEqual({ outcome: 'queued', promoted: [], remaining: 0 });
    expect(await expectConsistent(s)).toMatchObject({ available: 3, t_queued: 1 });
  });

  it('answers missing for a ticket that does not exist', async () => {
    const s = await drop(3);
    expect(await s.release('1-AAAAAAAAAAAAAAAA', 'expired')).toEqual({ outcome: 'missing', promoted: [], remaining: 0 });
  });

  it('passes over a parked head that can no longer be served and hands the unit to the next', async () => {
    const s = await drop(2, { perUserLimit: 2 });
    const a = await s.admitted('ann');
    const b = await s.admitted('bob');
    for (const t of [a, b]) expect(await s.reserve(t)).toBe('reserved');
    const c = await s.admitted('cat', { quantity: 2 });
    const d = await s.admitted('dan');
    for (const t of [c, d]) expect(await s.reserve(t)).toBe('waiting');
    await s.settle(a);
    // One unit is sold: cat's two can never come back, so cat is ended, and dan waits for bob's unit.
    expect(await s.status(c)).toBe('sold_out');
    expect(await s.release(b, 'payment_failed')).toEqual({ outcome: 'released', promoted: [d], remaining: 0 });
    expect(await s.status(d)).toBe('reserved');
    expect(await expectConsistent(s)).toMatchObject({ available: 0, reserved: 1, sold: 1, t_queued: 0, t_sold_out: 1 });
  });
});
