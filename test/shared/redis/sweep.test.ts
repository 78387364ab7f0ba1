import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, type TestContext } from '../../setup/context.ts';
import { expectConsistent, productScripts } from '../../setup/drop-helpers.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('lua-sweep');
});
afterAll(async () => {
  await ctx.close();
});

const drop = async (stock: number, extra: Record<string, unknown> = {}) => productScripts(ctx, (await createDrop(ctx, stock, extra)).id);

describe('sweep.lua', () => {
  it('answers 0 and ends nothing while a unit is available', async () => {
    const s = await drop(1);
    const t = await s.admitted('ann');
    expect(await s.sweep()).toBe(0);
    expect(await s.status(t)).toBe('queued');
  });

  it('answers 0 and ends nothing while a unit is held (it may still come back)', async () => {
    const s = await drop(1);
    await s.reserve(await s.admitted('ann'));
    const t = await s.admitted('bob');
    expect(await s.sweep()).toBe(0);
    expect(await s.status(t)).toBe('queued');
  });

  it('ends queued tickets sold_out, oldest first, a batch per call, and answers how many remain', async () => {
    const s = await drop(5, { perUserLimit: 5 });
    const holder = await s.admitted('ann', { quantity: 5 });
    await s.reserve(holder);
    const queued = [];
    for (let i = 0; i < 5; i++) queued.push(await s.admitted(`u${i}`));
    await s.settle(holder, 1);
    // settle's own sweep took one; the rest go two at a time.
    expect(await s.status(queued[0])).toBe('sold_out');
    expect(await s.sweep(2)).toBe(2);
    expect(await s.queued()).toEqual(queued.slice(3));
    expect(await s.sweep(2)).toBe(0);
    expect(await s.sweep(2)).toBe(0);
    for (const t of queued) expect(await s.status(t)).toBe('sold_out');
    expect(await ctx.deps.redis.hlen(s.keys.live)).toBe(0);
    expect(await expectConsistent(s)).toMatchObject({ sold: 5, t_paid: 1, t_sold_out: 5, t_queued: 0 });
  });

  it('is idempotent: sweeping a swept product changes nothing', async () => {
    const s = await drop(0);
    const before = await s.state();
    expect(await s.sweep()).toBe(0);
    expect(await s.state()).toEqual(before);
  });
});
