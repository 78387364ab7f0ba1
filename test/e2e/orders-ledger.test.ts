import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { buyAll, expectAuditOk, settledLedger, stats } from '../setup/buyers.ts';

/**
 * Orders are written in multi-row batches (one statement per event-loop turn of the stock
 * worker): one order that cannot be stored must not fail the others written with it.
 * Here the operator allows orders up to 1,000,000,000 (MAX_ORDER_AMOUNT), so an order can
 * come to more than a 32-bit column holds.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('orders-ledger', { MAX_ORDER_AMOUNT: '1000000000', ADMISSION_RATE_PER_SEC: '100000' });
  await ctx.startWorkers();
});
afterAll(async () => {
  await ctx.close();
});

const sql = (query: string, params: unknown[] = []) => ctx.deps.orm.em.getConnection().execute(query, params);

describe('orders written in one batch', () => {
  it('stores an order of 100,000,000,000 minor units beside small ones, and every one of them is paid', async () => {
    const drop = await createDrop(ctx, 111, { price: 10_000_000, perUserLimit: 100 });
    const answers = await buyAll(ctx, drop.id, [
      { userId: 'whale', quantity: 100 },
      ...Array.from({ length: 11 }, (_, i) => ({ userId: `minnow-${i}` })),
    ]);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 202));
    const final = await pollUntilTerminal(ctx, answers.map((a) => ({ ticketId: a.ticketId!, token: a.token })));
    expect([...final.values()].map((t) => t.status)).toEqual(answers.map(() => 'paid'));
    // A ticket reads `paid` once settle.lua ran; its order row follows in the next batched write.
    await settledLedger(ctx, drop.id);
    const [whale] = await sql('select amount_minor, quantity, status from orders where ticket_id = ?', [answers[0].ticketId]);
    expect({ ...whale, amount_minor: Number(whale.amount_minor) }).toEqual({ amount_minor: 100_000_000_000, quantity: 100, status: 'paid' });
    const listed = await ctx.http('GET', '/orders', { token: answers[0].token });
    expect(listed.body[0]).toMatchObject({ amount: 1_000_000_000, quantity: 100, status: 'paid', payment: { status: 'succeeded' } });
    expect((await stats(ctx, drop.id)).stock).toEqual({ total: 111, available: 0, reserved: 0, sold: 111 });
    await expectAuditOk(ctx, drop.id);
  });

  it('ends a ticket whose order MySQL can never store `rejected`, gives its units back, and stores its neighbours', async () => {
    const drop = await createDrop(ctx, 100, { price: 1, perUserLimit: 100 });
    // A rule MySQL enforces and the door does not know: no order of 50 units or more of this product.
    await sql(`alter table orders add constraint orders_test_small check (quantity < 50 or product_id <> ${drop.id})`);
    try {
      const answers = await buyAll(ctx, drop.id, [
        { userId: 'bulk', quantity: 60 },
        ...Array.from({ length: 10 }, (_, i) => ({ userId: `single-${i}` })),
      ]);
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 202));
      const final = await pollUntilTerminal(ctx, answers.map((a) => ({ ticketId: a.ticketId!, token: a.token })));
      expect(final.get(answers[0].ticketId!)).toMatchObject({ status: 'rejected', reason: 'order_not_storable' });
      expect(answers.slice(1).map((a) => final.get(a.ticketId!).status)).toEqual(Array(10).fill('paid'));
      expect((await stats(ctx, drop.id)).stock).toEqual({ total: 100, available: 90, reserved: 0, sold: 10 });
      expect(await settledLedger(ctx, drop.id)).toMatchObject({ paidUnits: 10, paidOrders: 10, pendingOrders: 0 });
      // The buyer may try again within the rule.
      const [again] = await buyAll(ctx, drop.id, [{ userId: 'bulk', quantity: 40 }]);
      expect(again.status).toBe(202);
      expect((await pollUntilTerminal(ctx, [{ ticketId: again.ticketId!, token: again.token }])).get(again.ticketId!).status).toBe('paid');
      await expectAuditOk(ctx, drop.id);
    } finally {
      await sql('alter table orders drop constraint orders_test_small');
    }
  });
});
