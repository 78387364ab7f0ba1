import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { buyAll, eventually, expectAuditOk, ledger, providerLedger, settledLedger, stats } from '../setup/buyers.ts';

/** No oversell and nothing lost, read from the stats endpoint and the MySQL ledger together. */
async function expectBalanced(ctx: TestContext, productId: number) {
  const l = await settledLedger(ctx, productId);
  const s = await stats(ctx, productId);
  expect(s.stock.sold + s.stock.reserved + s.stock.available).toBe(s.stock.total);
  expect(s.stock.sold).toBe(l.paidUnits);
  expect(s.tickets.paid).toBe(l.paidOrders);
  const recon = await ctx.http('GET', '/admin/reconcile', { admin: true });
  expect(recon.body.products.find((p: { productId: number }) => p.productId === productId).drift).toEqual([]);
  return { s, l };
}

describe('payments in a drop', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext('payments', { PAYMENT_HOLD_MS: '1500' });
    await ctx.startWorkers();
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('sells every unit in a 10x drop where 30% of cards are declined, and the ledger balances', async () => {
    const drop = await createDrop(ctx, 20);
    const buyers = Array.from({ length: 200 }, (_, i) => ({
      userId: `decl-${i}`,
      paymentMethod: i % 10 < 3 ? 'pm_card_declined' : 'pm_card_ok',
    }));
    const answers = await buyAll(ctx, drop.id, buyers);
    expect(answers.filter((a) => a.status >= 500)).toEqual([]);
    const tickets = answers.filter((a) => a.status === 202).map((a) => ({ ticketId: a.ticketId!, token: a.token }));
    const final = await pollUntilTerminal(ctx, tickets);
    expect(final.size).toBe(tickets.length);

    const byStatus = (s: string) => [...final.values()].filter((t) => t.status === s).length;
    expect(byStatus('paid')).toBe(20);
    const { s, l } = await expectBalanced(ctx, drop.id);
    expect(s.stock).toEqual({ total: 20, available: 0, reserved: 0, sold: 20 });
    expect(l.failedOrders).toBe(byStatus('payment_failed'));
    expect(l.payments.declined).toBe(byStatus('payment_failed'));
    expect(l.payments.succeeded).toBe(20);
    expect(byStatus('payment_failed')).toBeGreaterThan(0);
    // Every declined buyer that got a unit gave it back to someone who paid.
    const paidUsers = answers.filter((a) => final.get(a.ticketId!)?.status === 'paid').map((a) => a.userId);
    expect(paidUsers.every((u) => Number(u.split('-')[1]) % 10 >= 3)).toBe(true);
    await expectAuditOk(ctx, drop.id);
  });

  it('charges a flaky card exactly once after retries and records the attempts', async () => {
    const drop = await createDrop(ctx, 1);
    const [a] = await buyAll(ctx, drop.id, [{ userId: 'flaky-1', paymentMethod: 'pm_card_flaky' }]);
    const final = await pollUntilTerminal(ctx, [{ ticketId: a.ticketId!, token: a.token }]);
    expect(final.get(a.ticketId!).status).toBe('paid');
    const sim = await providerLedger(ctx);
    expect(Number(sim.calls[a.ticketId!])).toBe(3);
    expect(Object.keys(sim.charges).filter((k) => k === a.ticketId)).toHaveLength(1);
    await settledLedger(ctx, drop.id);
    const orders = await ctx.http('GET', '/orders', { token: a.token });
    expect(orders.body).toHaveLength(1);
    expect(orders.body[0]).toMatchObject({ status: 'paid', amount: 120, quantity: 1, payment: { status: 'succeeded', attempts: 3 } });
    await expectBalanced(ctx, drop.id);
    await expectAuditOk(ctx, drop.id);
  });

  it('ends a declined ticket payment_failed, fails its order and returns the unit', async () => {
    const drop = await createDrop(ctx, 1);
    const [a] = await buyAll(ctx, drop.id, [{ userId: 'declined-1', paymentMethod: 'pm_card_declined' }]);
    const final = await pollUntilTerminal(ctx, [{ ticketId: a.ticketId!, token: a.token }]);
    expect(final.get(a.ticketId!)).toMatchObject({ status: 'payment_failed', reason: 'card_declined' });
    await settledLedger(ctx, drop.id);
    const order = (await ctx.http('GET', `/orders/${final.get(a.ticketId!).orderId}`, { token: a.token })).body;
    expect(order).toMatchObject({ status: 'failed', payment: { status: 'declined', declineReason: 'card_declined' } });
    const { s } = await expectBalanced(ctx, drop.id);
    expect(s.stock).toEqual({ total: 1, available: 1, reserved: 0, sold: 0 });
    // The buyer may try again with another card once the ticket is over.
    const [again] = await buyAll(ctx, drop.id, [{ userId: 'declined-1', paymentMethod: 'pm_card_ok' }]);
    expect(again.status).toBe(202);
    expect((await pollUntilTerminal(ctx, [{ ticketId: again.ticketId!, token: again.token }])).get(again.ticketId!).status).toBe('paid');
    await expectAuditOk(ctx, drop.id);
  });

  it('expires every hold of slow cards in turn, returns all stock and refunds each late charge', async () => {
    const drop = await createDrop(ctx, 4);
    const buyers = Array.from({ length: 12 }, (_, i) => ({ userId: `slow-${i}`, paymentMethod: 'pm_card_slow' }));
    const answers = await buyAll(ctx, drop.id, buyers);
    expect(answers.every((a) => a.status === 202)).toBe(true);
    const tickets = answers.map((a) => ({ ticketId: a.ticketId!, token: a.token }));
    const final = await pollUntilTerminal(ctx, tickets);
    expect([...final.values()].map((t) => t.status)).toEqual(Array(12).fill('expired'));
    // The late successes arrive after the holds: each is refunded, none resurrects a ticket.
    await eventually('every late charge refunded', async () => (await ledger(ctx, drop.id)).payments.refunded === 12, 30_000);
    const sim = await providerLedger(ctx);
    for (const t of tickets) expect(sim.refunds[t.ticketId]).toBeDefined();
    for (const t of tickets) expect((await ctx.http('GET', `/tickets/${t.ticketId}`, { token: t.token })).body.status).toBe('expired');
    const { s, l } = await expectBalanced(ctx, drop.id);
    expect(s.stock).toEqual({ total: 4, available: 4, reserved: 0, sold: 0 });
    expect(l.expiredOrders).toBe(12);
    await expectAuditOk(ctx, drop.id);
  });
});
