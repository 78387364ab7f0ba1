import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { buyAll, ledger, stats } from '../setup/buyers.ts';

describe('general products during a drop', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext('general');
    await ctx.startWorkers();
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('are always on sale and settle while a drop backlog waits in its own queue', async () => {
    const drop = await createDrop(ctx, 50);
    await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 5 } });
    const rush = await buyAll(ctx, drop.id, Array.from({ length: 300 }, (_, i) => ({ userId: `rush-${i}` })));
    expect(rush.every((a) => a.status === 202)).toBe(true);

    const created = await ctx.http('POST', '/admin/products', {
      admin: true,
      body: { name: 'Socks', price: 9.5, type: 'general', opensAt: null, stock: 3 },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ type: 'general', opensAt: null, stock: { total: 3, available: 3 } });
    const general = created.body.id as number;

    const started = Date.now();
    // g-1 first: with its 2 units queued last, the two single units could be sold first and
    // leave 1, which no ticket can take (a fair outcome the assertions below do not expect).
    const buyers = [
      ...(await buyAll(ctx, general, [{ userId: 'g-1', quantity: 2 }])),
      ...(await buyAll(ctx, general, [{ userId: 'g-2' }, { userId: 'g-3' }])),
    ];
    expect(buyers.map((b) => b.status)).toEqual([202, 202, 202]);
    const final = await pollUntilTerminal(ctx, buyers.map((b) => ({ ticketId: b.ticketId!, token: b.token })), 10_000);
    const settledMs = Date.now() - started;
    const statuses = buyers.map((b) => final.get(b.ticketId!)?.status);
    // 4 units asked for 3 in stock: tickets that fit are paid, the one left over ends sold_out.
    const paidUnits = [2, 1, 1].reduce((sum, q, i) => sum + (statuses[i] === 'paid' ? q : 0), 0);
    expect(paidUnits).toBe(3);
    expect(statuses.filter((s) => s === 'sold_out')).toHaveLength(1);

    // The drop is still far from drained: the general buyers did not wait behind it.
    const dropStats = await stats(ctx, drop.id);
    expect(dropStats.tickets.queued).toBeGreaterThan(200);
    expect(settledMs).toBeLessThan(10_000);

    const g = await stats(ctx, general);
    expect(g.stock).toEqual({ total: 3, available: 0, reserved: 0, sold: 3 });
    expect((await ledger(ctx, general)).paidUnits).toBe(3);
    const door = await buyAll(ctx, general, [{ userId: 'g-4' }]);
    expect(door[0].status).toBe(409);
    expect(door[0].body.error.code).toBe('sold_out');
  });
});
