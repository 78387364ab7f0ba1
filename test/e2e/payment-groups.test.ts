import { afterEach, describe, expect, it } from '@jest/globals';
import type { Job } from 'bullmq';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { buyAll, eventually, expectAuditOk, providerLedger, settledLedger } from '../setup/buyers.ts';
import { processAdmissions } from '../../shared/domain/reservation/reserve.ts';
import { dropPaymentQueueName, queueTag, type PaymentJob } from '../../shared/queues/queues.ts';
import type { PaymentProvider } from '../../shared/payments/provider.ts';

/**
 * Holds made together are paid by one payment job (workers/payment.worker.ts): each ticket
 * on its own, within the provider's limits. The buyers are admitted with no worker running
 * and the stock step runs here, so that one reserve call makes every hold.
 */
describe('payment jobs of holds made together', () => {
  let ctx: TestContext | undefined;
  afterEach(async () => {
    await ctx?.close();
    ctx = undefined;
  });

  /** Admits the buyers, holds their units in one reserve call, and returns the tickets and the one payment job. */
  async function holdTogether(c: TestContext, buyers: { userId: string; paymentMethod: string }[]) {
    const drop = await createDrop(c, buyers.length);
    const answers = await buyAll(c, drop.id, buyers);
    expect(answers.map((a) => a.status)).toEqual(buyers.map(() => 202));
    const tickets = answers.map((a) => ({ ticketId: a.ticketId!, token: a.token, userId: a.userId }));
    const { handled } = await processAdmissions(c.deps, tickets.map((t) => t.ticketId));
    expect(handled.map((h) => h.outcome)).toEqual(buyers.map(() => 'reserved'));
    const queue = c.deps.queues.get(dropPaymentQueueName(drop.id));
    const jobs = (await queue.getJobs(['waiting'])) as Job<PaymentJob>[];
    expect(jobs).toHaveLength(1);
    expect([...jobs[0].data.tickets].sort()).toEqual(tickets.map((t) => t.ticketId).sort());
    return { drop, tickets, queue, job: jobs[0] };
  }

  it('pays every ticket of the job at once; a declined and a flaky card hold up no one', async () => {
    ctx = await createTestContext('pay_groups');
    const buyers = [
      { userId: 'g-flaky', paymentMethod: 'pm_card_flaky' },
      { userId: 'g-declined', paymentMethod: 'pm_card_declined' },
      ...Array.from({ length: 4 }, (_, i) => ({ userId: `g-ok-${i}`, paymentMethod: 'pm_card_ok' })),
    ];
    const { drop, tickets, queue, job } = await holdTogether(ctx, buyers);
    await ctx.startWorkers();

    const final = await pollUntilTerminal(ctx, tickets);
    const statusOf = (userId: string) => final.get(tickets.find((t) => t.userId === userId)!.ticketId).status;
    expect(statusOf('g-flaky')).toBe('paid');
    expect(statusOf('g-declined')).toBe('payment_failed');
    for (let i = 0; i < 4; i++) expect(statusOf(`g-ok-${i}`)).toBe('paid');

    // Each card was charged once: the flaky one on its third call, the rest on their first.
    const sim = await providerLedger(ctx);
    for (const t of tickets) expect([t.userId, Number(sim.calls[t.ticketId])]).toEqual([t.userId, t.userId === 'g-flaky' ? 3 : 1]);
    expect(Object.keys(sim.charges).sort()).toEqual(tickets.filter((t) => t.userId !== 'g-declined').map((t) => t.ticketId).sort());

    // Only the flaky ticket stayed in the job for its retries; the job then completed.
    const flaky = tickets.find((t) => t.userId === 'g-flaky')!;
    // The job finishes just after its last ticket is settled.
    await eventually('the payment job completed', async () => (await queue.getJobState(job.id!)) === 'completed', 10_000);
    const done = (await queue.getJob(job.id!)) as Job<PaymentJob>;
    expect(done.data.tickets).toEqual([flaky.ticketId]);
    expect(done.returnvalue).toEqual([expect.objectContaining({ ticketId: flaky.ticketId, outcome: 'paid' })]);
    // A ticket reads `paid` once settle.lua ran; its order row follows in the next batched write.
    const l = await settledLedger(ctx, drop.id);
    const orders = await ctx.http('GET', '/orders', { token: flaky.token });
    expect(orders.body[0]).toMatchObject({ status: 'paid', payment: { status: 'succeeded', attempts: 3 } });

    expect(l.paidOrders).toBe(5);
    expect(l.failedOrders).toBe(1);
    await expectAuditOk(ctx, drop.id);
  });

  it('leaves a ticket whose attempts ran out to its hold, whose end gives the unit back once, and pays the rest', async () => {
    ctx = await createTestContext('pay_out_of_attempts', { PAYMENT_ATTEMPTS: '2', PAYMENT_HOLD_MS: '1500' });
    const buyers = [
      { userId: 'o-flaky', paymentMethod: 'pm_card_flaky' },
      { userId: 'o-ok-1', paymentMethod: 'pm_card_ok' },
      { userId: 'o-ok-2', paymentMethod: 'pm_card_ok' },
    ];
    const { drop, tickets, queue, job } = await holdTogether(ctx, buyers);
    await ctx.startWorkers();

    const final = await pollUntilTerminal(ctx, tickets);
    const flaky = tickets.find((t) => t.userId === 'o-flaky')!;
    expect(tickets.map((t) => [t.userId, final.get(t.ticketId).status])).toEqual([['o-flaky', 'expired'], ['o-ok-1', 'paid'], ['o-ok-2', 'paid']]);
    // Two calls, both failed: no charge stands for the flaky card.
    const sim = await providerLedger(ctx);
    expect(Number(sim.calls[flaky.ticketId])).toBe(2);
    expect(sim.charges[flaky.ticketId]).toBeUndefined();
    await eventually('the payment job failed', async () => (await queue.getJobState(job.id!)) === 'failed', 10_000);
    const failed = (await queue.getJob(job.id!)) as Job<PaymentJob>;
    expect(failed.data.tickets).toEqual([flaky.ticketId]);
    const l = await settledLedger(ctx, drop.id);
    expect([l.paidOrders, l.paidUnits]).toEqual([2, 2]);
    const stock = (await ctx.http('GET', `/admin/products/${drop.id}/stats`, { admin: true })).body.stock;
    expect(stock).toEqual({ total: 3, available: 1, reserved: 0, sold: 2 });
    await expectAuditOk(ctx, drop.id);
  });

  /** Eight holds made together, paid by workers with `env`: when each charge started, and the most in flight at once. */
  async function watchCharges(name: string, env: Record<string, string>) {
    ctx = await createTestContext(name, env);
    const buyers = Array.from({ length: 8 }, (_, i) => ({ userId: `l-${i}`, paymentMethod: 'pm_card_ok' }));
    const { tickets } = await holdTogether(ctx, buyers);
    // Every charge the workers make, as the provider sees it.
    const real = ctx.deps.provider;
    let inFlight = 0;
    let most = 0;
    const starts: number[] = [];
    const watched: PaymentProvider = {
      refund: (req) => real.refund(req),
      lookup: (key) => real.lookup(key),
      async charge(req) {
        starts.push(Date.now());
        most = Math.max(most, ++inFlight);
        try {
          return await real.charge(req);
        } finally {
          inFlight--;
        }
      },
    };
    (ctx.deps as { provider: PaymentProvider }).provider = watched;
    const before = Date.now();
    await ctx.startWorkers();

    const final = await pollUntilTerminal(ctx, tickets);
    expect([...final.values()].map((t) => t.status)).toEqual(tickets.map(() => 'paid'));
    expect(starts).toHaveLength(8);
    return { before, starts, most };
  }

  it('keeps charges in flight to PAYMENT_CONCURRENCY', async () => {
    const { most } = await watchCharges('pay_slots', { PAYMENT_CONCURRENCY: '2', PAYMENT_RATE_PER_SEC: '1000', PAYMENT_LATENCY_MS: '40' });
    expect(most).toBe(2);
  });

  it('keeps the pace of charges to PAYMENT_RATE_PER_SEC', async () => {
    const { before, starts } = await watchCharges('pay_pace', { PAYMENT_CONCURRENCY: '8', PAYMENT_RATE_PER_SEC: '10', PAYMENT_LATENCY_MS: '40' });
    // 10 a second with 100 ms saved up: one token at once, then one every 100 ms, none
    // before the workers started. A charge starts after its token (later if its ticket's
    // reads take longer), so the eighth starts at least 700 ms after `before`, however slow
    // the machine; without the bucket all eight would start together. The first charge is
    // no reference for the others: its start may be later than the next tokens.
    expect(Math.max(...starts) - before).toBeGreaterThanOrEqual(650);
  });

  it('shares one rate bucket per queue: tokens granted, never more than the rate allows', async () => {
    ctx = await createTestContext('pay_bucket');
    const { scripts, keys } = ctx.deps;
    const queue = dropPaymentQueueName(1);
    const bucket = keys.chargeRate(queueTag(queue), queue);
    // A new bucket holds 100 ms of the rate: 200 of 2,000 a second.
    expect(await scripts.takeTokens(bucket, 2000, 500)).toEqual({ granted: 200, waitMs: expect.any(Number) });
    const next = await scripts.takeTokens(bucket, 2000, 500);
    expect(next.granted).toBeLessThan(20);
    expect(next.waitMs).toBeGreaterThanOrEqual(1);
    // A slow rate still saves up one token, and says how long until the next.
    const slow = keys.chargeRate(queueTag(queue), `${queue}-slow`);
    expect(await scripts.takeTokens(slow, 2, 3)).toEqual({ granted: 1, waitMs: expect.any(Number) });
    const wait = await scripts.takeTokens(slow, 2, 1);
    expect(wait.granted).toBe(0);
    expect(wait.waitMs).toBeGreaterThan(400);
    expect(wait.waitMs).toBeLessThanOrEqual(500);
  });
});
