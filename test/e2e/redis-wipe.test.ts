import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { REDIS_URL, createDrop, createTestContext, pollUntilTerminal, TERMINAL, type TestContext } from '../setup/context.ts';
import { buyAll, eventually, ledger, providerLedger, stats, type Bought } from '../setup/buyers.ts';
import { OwnRedis } from '../setup/own-redis.ts';

/**
 * Redis restarted without its data mid-drop (a server of the test's own, killed and
 * started again empty), API and workers running. The card network's ledger lives
 * elsewhere (the machine's Redis), as a real provider's does.
 */
describe('when Redis comes back empty mid-drop', () => {
  const redis = new OwnRedis();
  let ctx: TestContext;
  beforeAll(async () => {
    await redis.start();
    ctx = await createTestContext('wipe', {
      REDIS_URL: redis.url, PAYMENT_SIM_REDIS_URL: REDIS_URL,
      PAYMENT_HOLD_MS: '4000', RECONCILE_INTERVAL_MS: '500', PAYMENT_LATENCY_MS: '150',
    }, { role: 'producer' });
    await ctx.startWorkers();
  });
  afterAll(async () => {
    await ctx.close();
    await redis.kill();
  });

  it('ends every ticket the log admitted, keeps the stock rule, sells out, and the log still replays', async () => {
    const STOCK = 80;
    const drop = await createDrop(ctx, STOCK);
    await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 40 } });
    const methods = ['pm_card_ok', 'pm_card_ok', 'pm_card_flaky', 'pm_card_declined', 'pm_card_ok', 'pm_card_slow'];
    const first = await buyAll(ctx, drop.id, Array.from({ length: 400 }, (_, i) => ({ userId: `w1-${i}`, paymentMethod: methods[i % 6] })));
    expect(first.filter((a) => a.status !== 202)).toEqual([]);
    await eventually('20 paid', async () => (await stats(ctx, drop.id)).tickets.paid >= 20, 60_000);

    await redis.kill();
    const during = await buyAll(ctx, drop.id, Array.from({ length: 5 }, (_, i) => ({ userId: `down-${i}` })));
    expect(during.map((a) => [a.status, a.body.error.code])).toEqual(during.map(() => [503, 'unavailable']));
    await redis.start();
    // Buyers are told 503 until the API's connections are back, then retry (Retry-After).
    await eventually('the API ready again', async () => (await ctx.http('GET', '/readyz')).status === 200, 30_000);

    // New buyers after the restart: the door rebuilds the product from the ledger first.
    const second = await buyAll(ctx, drop.id, Array.from({ length: 150 }, (_, i) => ({ userId: `w2-${i}` })));
    expect(second.filter((a) => a.status !== 202 && a.status !== 409)).toEqual([]);
    await pollUntilTerminal(ctx, second.filter((a) => a.ticketId).map((a) => ({ ticketId: a.ticketId!, token: a.token })), 120_000);
    await eventually('no pending order and no live ticket left', async () => {
      const s = await stats(ctx, drop.id);
      return (await ledger(ctx, drop.id)).pendingOrders === 0 && s.tickets.queued === 0 && s.tickets.reserved === 0;
    }, 90_000);

    // Every ticket the ledger knows is terminal, read by its owner.
    const buyers = new Map<string, Bought>([...first, ...second].map((a) => [a.userId, a]));
    const orders: { ticket_id: string; user_id: string; status: string; quantity: number }[] = await ctx.deps.orm.em.getConnection()
      .execute('select ticket_id, user_id, status, quantity from orders where product_id = ?', [drop.id]);
    expect(orders.length).toBeGreaterThan(STOCK / 2);
    for (const o of orders) {
      const res = await ctx.http('GET', `/tickets/${o.ticket_id}`, { token: buyers.get(o.user_id)!.token });
      expect({ ticket: o.ticket_id, status: res.status, terminal: TERMINAL.has(res.body.status) }).toEqual({ ticket: o.ticket_id, status: 200, terminal: true });
    }

    // The stock rule, and every unit sold.
    const s = await stats(ctx, drop.id);
    const l = await ledger(ctx, drop.id);
    expect(s.stock).toEqual({ total: STOCK, available: 0, reserved: 0, sold: STOCK });
    expect(l).toMatchObject({ paidUnits: STOCK, paidOrders: STOCK, pendingOrders: 0 });

    // Net charges: one per paid order, none for any other ticket.
    await eventually('payments reconciled', async () =>
      (await ctx.http('GET', '/admin/reconcile', { admin: true })).body.payments.endedNotYetChecked === 0, 60_000);
    const sim = await providerLedger(ctx);
    const paidTickets = new Set(orders.filter((o) => o.status === 'paid').map((o) => o.ticket_id));
    const everyTicket = [...first, ...second].filter((a) => a.ticketId).map((a) => a.ticketId!);
    const net = (t: string) => (t in sim.charges ? 1 : 0) - (t in sim.refunds ? 1 : 0);
    const bad = everyTicket.filter((t) => net(t) !== (paidTickets.has(t) ? 1 : 0));
    expect(bad).toEqual([]);

    // The event log is the record of admission: every ticket of the first rush (drained to
    // MySQL long before the wipe) came back from it, without an order too, and ended.
    const ordered = new Set(orders.map((o) => o.ticket_id));
    const unordered = first.filter((a) => !ordered.has(a.ticketId!));
    expect(unordered.length).toBeGreaterThan(0);
    const reads = await Promise.all(unordered.map((a) => ctx.http('GET', `/tickets/${a.ticketId}`, { token: a.token })));
    expect(reads.filter((r) => r.status !== 200 || !TERMINAL.has(r.body.status)).map((r) => [r.status, r.body])).toEqual([]);
    const recon = (await ctx.http('GET', '/admin/reconcile', { admin: true })).body;
    expect(recon.ok).toBe(false);
    expect(recon.products.find((p: { productId: number }) => p.productId === drop.id).drift).toEqual([]);
    const loss = recon.losses.find((x: { productId: number }) => x.productId === drop.id);
    expect(loss).toMatchObject({ productId: drop.id, snapshotAt: expect.any(String), queuedTicketsLost: 0 });
    expect(recon.payments.paidWithoutCharge).toEqual([]);

    // And the log replays to the same outcome: the audit passes across the loss.
    const audit = (await ctx.http('GET', `/admin/products/${drop.id}/audit`, { admin: true })).body;
    expect({ ok: audit.ok, violations: audit.violations }).toEqual({ ok: true, violations: [] });
    expect(audit.tickets.admitted).toBe(first.length + second.filter((a) => a.status === 202).length);
  });
});
