import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { buyAll, eventually, expectAuditOk, ledger, providerLedger, settledLedger, stats } from '../setup/buyers.ts';
import { TcpProxy } from '../setup/tcp-proxy.ts';

describe('when MySQL is unreachable mid-drain', () => {
  let ctx: TestContext;
  const proxy = new TcpProxy({ host: '127.0.0.1', port: 3306 });
  beforeAll(async () => {
    const port = await proxy.start();
    ctx = await createTestContext('mysqlout', { TEST_MYSQL_URL: `mysql://root@127.0.0.1:${port}`, PAYMENT_HOLD_MS: '30000' });
    await ctx.startWorkers();
  });
  afterAll(async () => {
    await proxy.start();
    await ctx.close();
    await proxy.stop();
  });

  it('keeps admitting, and once MySQL is back every reservation and payment reaches its order row', async () => {
    const drop = await createDrop(ctx, 40);
    await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 10 } });
    const first = await buyAll(ctx, drop.id, Array.from({ length: 60 }, (_, i) => ({ userId: `a-${i}` })));
    await eventually('a few orders paid', async () => (await stats(ctx, drop.id)).tickets.paid >= 2);
    const beforeOutage = await stats(ctx, drop.id);
    expect(beforeOutage.tickets.queued).toBeGreaterThan(0);

    await proxy.stop();
    const during = await buyAll(ctx, drop.id, Array.from({ length: 60 }, (_, i) => ({ userId: `b-${i}` })));
    const polled = await Promise.all(during.filter((a) => a.ticketId).slice(0, 20)
      .map((a) => ctx.http('GET', `/tickets/${a.ticketId}`, { token: a.token })));
    await new Promise((r) => setTimeout(r, 3000));
    const midOutage = await stats(ctx, drop.id);
    await proxy.start();

    const all = [...first, ...during];
    expect(all.map((a) => a.status).filter((s) => s !== 202 && s !== 409)).toEqual([]);
    expect(during.filter((a) => a.status === 202).length).toBeGreaterThan(0);
    expect(polled.map((r) => r.status)).toEqual(polled.map(() => 200));
    expect(midOutage.stock.sold + midOutage.stock.reserved + midOutage.stock.available).toBe(40);

    const tickets = all.filter((a) => a.status === 202).map((a) => ({ ticketId: a.ticketId!, token: a.token }));
    const final = await pollUntilTerminal(ctx, tickets, 120_000);
    expect(final.size).toBe(tickets.length);
    expect([...final.values()].filter((t) => t.status === 'paid')).toHaveLength(40);
    const l = await settledLedger(ctx, drop.id);
    expect(l).toMatchObject({ paidUnits: 40, paidOrders: 40, pendingOrders: 0 });
    expect(l.payments.succeeded).toBe(40);
    const s = await stats(ctx, drop.id);
    expect(s.stock).toEqual({ total: 40, available: 0, reserved: 0, sold: 40 });
    await expectAuditOk(ctx, drop.id);
  });
});

describe('when MySQL is away for longer than a hold', () => {
  let ctx: TestContext;
  const proxy = new TcpProxy({ host: '127.0.0.1', port: 3306 });
  beforeAll(async () => {
    const port = await proxy.start();
    ctx = await createTestContext('mysqllong', {
      TEST_MYSQL_URL: `mysql://root@127.0.0.1:${port}`, PAYMENT_HOLD_MS: '3000', RECONCILE_INTERVAL_MS: '500', PAYMENT_LATENCY_MS: '300',
    });
    await ctx.startWorkers();
  });
  afterAll(async () => {
    await proxy.start();
    await ctx.close();
    await proxy.stop();
  });

  it('charges no buyer whose hold ran out meanwhile, sells every unit once, and ends every order', async () => {
    const STOCK = 40;
    const drop = await createDrop(ctx, STOCK);
    await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 20 } });
    const methods = ['pm_card_ok', 'pm_card_ok', 'pm_card_flaky'];
    const answers = await buyAll(ctx, drop.id, Array.from({ length: 150 }, (_, i) => ({ userId: `l-${i}`, paymentMethod: methods[i % 3] })));
    await eventually('a few orders paid', async () => (await stats(ctx, drop.id)).tickets.paid >= 5);

    await proxy.stop();
    await new Promise((r) => setTimeout(r, 6000));
    await proxy.start();

    const tickets = answers.filter((a) => a.status === 202).map((a) => ({ ticketId: a.ticketId!, token: a.token }));
    const final = await pollUntilTerminal(ctx, tickets, 120_000);
    expect(final.size).toBe(tickets.length);
    await eventually('orders ended and charges checked', async () =>
      (await ledger(ctx, drop.id)).pendingOrders === 0
      && (await ctx.http('GET', '/admin/reconcile', { admin: true })).body.payments.endedNotYetChecked === 0, 90_000);

    const paid = new Set([...final.values()].filter((t) => t.status === 'paid').map((t) => t.ticketId));
    expect(paid.size).toBe(STOCK);
    const sim = await providerLedger(ctx);
    const net = (t: string) => (t in sim.charges ? 1 : 0) - (t in sim.refunds ? 1 : 0);
    expect(tickets.filter((t) => net(t.ticketId) !== (paid.has(t.ticketId) ? 1 : 0))).toEqual([]);
    expect(await ledger(ctx, drop.id)).toMatchObject({ paidUnits: STOCK, paidOrders: STOCK, pendingOrders: 0 });
    expect((await stats(ctx, drop.id)).stock).toEqual({ total: STOCK, available: 0, reserved: 0, sold: STOCK });
    await expectAuditOk(ctx, drop.id);
  });
});
