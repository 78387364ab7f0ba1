import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { exited, spawnService } from '../setup/processes.ts';
import { buyAll, eventually, expectAuditOk, providerLedger, settledLedger, stats } from '../setup/buyers.ts';

/** The workers as a real child process, so the test can SIGKILL it mid-job. */
function spawnWorkers(ctx: TestContext): ChildProcess {
  return spawnService(ctx, 'workers/main.ts', { JOB_LOCK_MS: '1500', PAYMENT_LATENCY_MS: '40', STOCK_CONCURRENCY: '4' });
}

describe('a worker killed mid-drain', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext('crash', { PAYMENT_HOLD_MS: '20000' });
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('loses nothing and double-counts nothing once a new worker takes the stalled jobs over', async () => {
    const drop = await createDrop(ctx, 60);
    await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 150 } });
    const methods = ['pm_card_ok', 'pm_card_ok', 'pm_card_flaky', 'pm_card_declined'];
    const buyers = Array.from({ length: 400 }, (_, i) => ({ userId: `k-${i}`, paymentMethod: methods[i % methods.length] }));
    const answers = await buyAll(ctx, drop.id, buyers);
    expect(answers.filter((a) => a.status !== 202)).toEqual([]);

    let child = spawnWorkers(ctx);
    await eventually('some tickets paid', async () => (await stats(ctx, drop.id)).tickets.paid >= 10, 60_000);
    child.kill('SIGKILL');
    await exited(child);
    const atKill = await stats(ctx, drop.id);
    expect(atKill.tickets.paid).toBeLessThan(60);
    expect(atKill.queue.active + atKill.queue.waiting).toBeGreaterThan(0);

    child = spawnWorkers(ctx);
    try {
      const tickets = answers.map((a) => ({ ticketId: a.ticketId!, token: a.token }));
      const final = await pollUntilTerminal(ctx, tickets, 120_000);
      expect(final.size).toBe(tickets.length);
      const paid = [...final.values()].filter((t) => t.status === 'paid');
      expect(paid).toHaveLength(60);

      const s = await stats(ctx, drop.id);
      const l = await settledLedger(ctx, drop.id);
      expect(s.stock).toEqual({ total: 60, available: 0, reserved: 0, sold: 60 });
      expect(l.paidOrders).toBe(60);
      expect(l.pendingOrders).toBe(0);
      // At most one charge per ticket: net charges (charged minus refunded) are exactly the paid tickets.
      const sim = await providerLedger(ctx);
      const net = Object.keys(sim.charges).filter((t) => !(t in sim.refunds));
      expect(net.sort()).toEqual(paid.map((t) => t.ticketId).sort());
      await expectAuditOk(ctx, drop.id);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });
});
