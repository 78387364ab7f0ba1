import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, type TestContext } from '../../setup/context.ts';
import { expectConsistent, productScripts } from '../../setup/drop-helpers.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('lua-update');
});
afterAll(async () => {
  await ctx.close();
});

const drop = async (stock: number, extra: Record<string, unknown> = {}) => productScripts(ctx, (await createDrop(ctx, stock, extra)).id);

describe('update-product.lua', () => {
  it('answers not_loaded for a product whose state is not in Redis, and creates nothing', async () => {
    const s = productScripts(ctx, 987_655);
    expect(await s.update({ stock: 10 })).toEqual({ outcome: 'not_loaded', promoted: [], remaining: 0 });
    expect(await ctx.deps.redis.exists(s.keys.product)).toBe(0);
  });

  it('grows stock: the new units go to parked tickets first, oldest first', async () => {
    const s = await drop(1);
    await s.reserve(await s.admitted('ann'));
    const parked = [await s.admitted('bob'), await s.admitted('cat'), await s.admitted('dan')];
    for (const t of parked) expect(await s.reserve(t)).toBe('waiting');
    expect(await s.update({ stock: 3 })).toEqual({ outcome: 'ok', promoted: parked.slice(0, 2), remaining: 0 });
    expect(await s.waiting()).toEqual([parked[2]]);
    expect(await expectConsistent(s)).toMatchObject({ total: 3, available: 0, reserved: 3 });
  });

  it('shrinks stock down to what is sold or held, never below', async () => {
    const s = await drop(5);
    const a = await s.admitted('ann');
    const b = await s.admitted('bob');
    await s.reserve(a);
    await s.reserve(b);
    await s.settle(a);
    expect(await s.update({ stock: 1 })).toEqual({ outcome: 'below_committed', promoted: [], remaining: 0, committed: 2 });
    expect(await expectConsistent(s)).toMatchObject({ total: 5, available: 3 });
    expect(await s.update({ stock: 2 })).toEqual({ outcome: 'ok', promoted: [], remaining: 0 });
    expect(await expectConsistent(s)).toMatchObject({ total: 2, available: 0, reserved: 1, sold: 1 });
  });

  it('sweeps the queue when shrinking leaves nothing that can come back', async () => {
    const s = await drop(3);
    const queued = [await s.admitted('ann'), await s.admitted('bob')];
    expect(await s.update({ stock: 0 })).toEqual({ outcome: 'ok', promoted: [], remaining: 0 });
    for (const t of queued) expect(await s.status(t)).toBe('sold_out');
    expect(await expectConsistent(s)).toMatchObject({ total: 0, t_sold_out: 2, t_queued: 0 });
  });

  it('moves the opening instant and the per-user limit, and leaves stock alone when not given', async () => {
    const s = await drop(5, { perUserLimit: 1 });
    const opensAt = Date.now() + 60_000;
    expect(await s.update({ opensAtMs: opensAt, perUserLimit: 3 })).toEqual({ outcome: 'ok', promoted: [], remaining: 0 });
    expect(await s.state()).toMatchObject({ opensAt, limit: 3, total: 5, available: 5 });
    expect((await s.admit('ann')).outcome).toBe('not_open');
    await s.update({ opensAtMs: -1 });
    expect((await s.admit('ann', { quantity: 3 })).outcome).toBe('created');
  });

  it('is idempotent: the same change twice leaves the same state', async () => {
    const s = await drop(5);
    await s.reserve(await s.admitted('ann'));
    expect(await s.update({ stock: 8, perUserLimit: 2 })).toEqual({ outcome: 'ok', promoted: [], remaining: 0 });
    const once = await s.state();
    expect(await s.update({ stock: 8, perUserLimit: 2 })).toEqual({ outcome: 'ok', promoted: [], remaining: 0 });
    expect(await s.state()).toEqual(once);
    expect(once).toMatchObject({ total: 8, available: 7, reserved: 1 });
  });
});
