import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { exited, spawnService } from '../setup/processes.ts';
import { buyAll, eventually, expectAuditOk, ledger, providerLedger, stats } from '../setup/buyers.ts';

/**
 * Workers SIGKILLed twice while payment jobs are in flight, with a hold window (3 s)
 * shorter than the time a dead worker's job takes to be taken over (JOB_LOCK_MS 6 s):
 * charges the card network took whose answers never arrived, jobs taken over after their
 * hold ran out. Afterwards the provider's own ledger must show, per ticket, exactly one
 * net charge for a paid ticket and none for any other.
 */
function spawnWorkers(ctx: TestContext): ChildProcess {
  return spawnService(ctx, 'workers/main.ts', { JOB_LOCK_MS: '6000', PAYMENT_LATENCY_MS: '700', PAYMENT_CONCURRENCY: '24', STOCK_CONCURRENCY: '4' });
}

describe('workers killed while the provider is charging', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext('charges', { PAYMENT_HOLD_MS: '3000', RECONCILE_INTERVAL_MS: '500' });
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('leaves exactly one net charge per paid ticket and none for any other, by the provider\'s own ledger', async () => {
    const STOCK = 60;
    const drop = await createDrop(ctx, STOCK);
    await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 100 } });
    const methods = ['pm_card_ok', 'pm_card_ok', 'pm_card_flaky', 'pm_card_declined'];
    const answers = await buyAll(ctx, drop.id, Array.from({ length: 300 }, (_, i) => ({ userId: `c-${i}`, paymentMethod: methods[i % 4] })));
    expect(answers.filter((a) => a.status !== 202)).toEqual([]);
    const charged = async () => Object.keys((await providerLedger(ctx)).charges).length;

    let child = spawnWorkers(ctx);
    try {
      for (const atLeast of [8, 24]) {
        // Kill while charges are on their way back (each answer takes 700 ms).
        await eventually(`${atLeast} charges taken`, async () => (await charged()) >= atLeast, 60_000);
        child.kill('SIGKILL');
        await exited(child);
        await new Promise((r) => setTimeout(r, 500));
        child = spawnWorkers(ctx);
      }
      const tickets = answers.map((a) => ({ ticketId: a.ticketId!, token: a.token }));
      const final = await pollUntilTerminal(ctx, tickets, 150_000);
      expect(final.size).toBe(tickets.length);
      // Every order that ended without a sale has been checked at the provider.
      await eventually('payments reconciled', async () => {
        const r = await ctx.http('GET', '/admin/reconcile', { admin: true });
        return r.body.payments.endedNotYetChecked === 0 && (await ledger(ctx, drop.id)).pendingOrders === 0;
      }, 90_000);

      const paid = new Set([...final.values()].filter((t) => t.status === 'paid').map((t) => t.ticketId));
      expect(paid.size).toBe(STOCK);
      const sim = await providerLedger(ctx);
      const net = (ticketId: string) => (ticketId in sim.charges ? 1 : 0) - (ticketId in sim.refunds ? 1 : 0);
      const wrong = tickets.map((t) => ({ ticketId: t.ticketId, status: final.get(t.ticketId).status, net: net(t.ticketId) }))
        .filter((t) => t.net !== (paid.has(t.ticketId) ? 1 : 0));
      expect(wrong).toEqual([]);
      // The kills did land between a charge and its answer: some charges had to be refunded.
      const refunded = Object.keys(sim.refunds);
      expect(refunded.length).toBeGreaterThan(0);
      // Every refund is in the ledger, and every charge of a paid ticket too.
      const rows: { ticket_id: string; status: string }[] = await ctx.deps.orm.em.getConnection()
        .execute(`select ticket_id, status from payments where status in ('succeeded', 'refunded')`);
      const recorded = new Map(rows.map((r) => [r.ticket_id, r.status]));
      expect(refunded.filter((t) => recorded.get(t) !== 'refunded')).toEqual([]);
      expect([...paid].filter((t) => recorded.get(t) !== 'succeeded')).toEqual([]);

      const s = await stats(ctx, drop.id);
      expect(s.stock).toEqual({ total: STOCK, available: 0, reserved: 0, sold: STOCK });
      const l = await ledger(ctx, drop.id);
      expect(l).toMatchObject({ paidUnits: STOCK, paidOrders: STOCK, pendingOrders: 0 });
      const recon = await ctx.http('GET', '/admin/reconcile', { admin: true });
      expect(recon.body.payments.paidWithoutCharge).toEqual([]);
      expect(recon.body.products.find((p: { productId: number }) => p.productId === drop.id).drift).toEqual([]);
      await expectAuditOk(ctx, drop.id);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });
});
