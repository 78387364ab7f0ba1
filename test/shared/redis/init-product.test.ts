import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, type TestContext } from '../../setup/context.ts';
import { expectConsistent, productScripts } from '../../setup/drop-helpers.ts';
import { processAdmission } from '../../../shared/domain/reservation/reserve.ts';
import { processPayment } from '../../../shared/domain/payment/pay.ts';
import { loadProduct } from '../../../shared/domain/products/load.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('lua-init');
});
afterAll(async () => {
  await ctx.close();
});

describe('init-product.lua', () => {
  it('loads the product hash and the held units when nothing is there, and answers 1', async () => {
    const s = productScripts(ctx, 987_656);
    const fields = { type: 'reserve', opensAt: 0, limit: 2, total: 10, available: 7, reserved: 1, sold: 2, seq: 0, t_paid: 2, t_reserved: 1 };
    expect(await ctx.deps.scripts.initProduct(s.productId, fields, new Map([['ann', 2], ['bob', 1]]), '{}', '')).toBe(true);
    expect(await s.state()).toMatchObject({ ...fields, type: 'reserve' });
    expect(await s.held()).toEqual({ ann: 2, bob: 1 });
    expect(await s.admit('ann', { quantity: 1 })).toEqual({ outcome: 'over_limit', limit: 2, held: 2 });
    expect((await s.admit('bob', { quantity: 1 })).outcome).toBe('created');
  });

  it('answers 0 and changes nothing when the state is already loaded', async () => {
    const s = productScripts(ctx, (await createDrop(ctx, 5)).id);
    await s.reserve(await s.admitted('ann'));
    const before = await s.state();
    const fields = { total: 999, available: 999, reserved: 0 };
    expect(await ctx.deps.scripts.initProduct(s.productId, fields, new Map([['mallory', 5]]), '{}', '')).toBe(false);
    expect(await s.state()).toEqual(before);
    expect(await s.held()).toEqual({ ann: 1 });
  });

  it('rebuilds stock, held units and counters from the MySQL ledger after Redis lost them', async () => {
    const drop = await createDrop(ctx, 5, { perUserLimit: 2 });
    const s = productScripts(ctx, drop.id);
    const paid = await s.admitted('ann', { quantity: 2 });
    await processAdmission(ctx.deps, paid);
    expect(await processPayment(ctx.deps, paid)).toBe('paid');
    const pending = await s.admitted('bob');
    expect(await processAdmission(ctx.deps, pending)).toBe('reserved');
    const before = await expectConsistent(s);

    await ctx.deps.redis.del(...s.productKeys, s.keys.ticketPrefix + pending);
    await loadProduct(ctx.deps, await ctx.deps.catalog.get(drop.id));

    const after = await expectConsistent(s, { rebuilt: true });
    expect(after).toMatchObject({ total: 5, sold: 2, reserved: 1, available: 2, limit: 2, t_paid: 1, t_reserved: 1 });
    expect(after.opensAt).toBe(before.opensAt);
    expect(await s.held()).toEqual({ ann: 2, bob: 1 });
    // The pending order's ticket is back with a hold, so its units return if nobody pays.
    expect(await s.ticket(pending)).toMatchObject({ status: 'reserved', user: 'bob', qty: '1' });
    expect(await ctx.deps.redis.zscore(s.keys.holds, pending)).not.toBeNull();
  });
});
