import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Job } from 'bullmq';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { buyAll, eventually, expectAuditOk, stats, type Bought } from '../setup/buyers.ts';
import { MAX_BATCH } from '../../shared/queues/admission-batches.ts';
import { GENERAL_QUEUE, reserveQueueName, type TicketsJob } from '../../shared/queues/queues.ts';
import { repairProduct } from '../../shared/domain/recovery/repair.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('admission-batches');
});
afterAll(async () => {
  await ctx.close();
});

const jobsOf = async (productId: number) =>
  (await ctx.deps.queues.get(reserveQueueName(productId)).getJobs(['waiting', 'prioritized'])) as Job<TicketsJob>[];

describe('admission jobs carry batches of tickets', () => {
  it('puts a rush into few jobs, every ticket in exactly one, named on the ticket', async () => {
    const drop = await createDrop(ctx, 10);
    const answers = await buyAll(ctx, drop.id, Array.from({ length: 250 }, (_, i) => ({ userId: `r-${i}` })), 250);
    expect(answers.filter((a) => a.status !== 202)).toEqual([]);

    await ctx.deps.admissions.flush(); // the 202s do not wait for the job adds
    const jobs = await jobsOf(drop.id);
    expect(jobs.length).toBeLessThan(250);
    expect(Math.max(...jobs.map((j) => j.data.tickets.length))).toBeLessThanOrEqual(MAX_BATCH);
    const inJobs = jobs.flatMap((j) => j.data.tickets);
    expect(inJobs.sort()).toEqual(answers.map((a) => a.ticketId!).sort());
    for (const job of jobs) {
      for (const ticketId of job.data.tickets) {
        expect(await ctx.deps.redis.hget(ctx.deps.keys.ticket(drop.id, ticketId), 'job')).toBe(job.id);
      }
    }
  });

  it('sends a lone buyer\'s job once its linger is over, and the janitor re-adds the job of tickets whose job was lost', async () => {
    const drop = await createDrop(ctx, 5);
    const [first] = await buyAll(ctx, drop.id, [{ userId: 'lone' }]);
    await eventually('the lone job', async () => (await jobsOf(drop.id)).length > 0, 5000);
    expect((await jobsOf(drop.id)).map((j) => j.data.tickets)).toEqual([[first.ticketId]]);

    // The API died between the admit script and the job add: the tickets exist, their job does not.
    const more = await buyAll(ctx, drop.id, [{ userId: 'l-1' }, { userId: 'l-2' }]);
    await ctx.deps.admissions.flush();
    const queue = ctx.deps.queues.get(reserveQueueName(drop.id));
    await queue.obliterate({ force: true });
    const lost = [first, ...more].map((b) => b.ticketId!);
    const product = (await ctx.deps.catalog.find(drop.id))!;

    // Young tickets may still have their job on the way: the janitor leaves them alone.
    await repairProduct(ctx.deps, product);
    expect(await jobsOf(drop.id)).toEqual([]);

    for (const id of lost) await ctx.deps.redis.hset(ctx.deps.keys.ticket(drop.id, id), 'created', Date.now() - 60_000);
    await repairProduct(ctx.deps, product);
    const readded = await jobsOf(drop.id);
    expect(readded.flatMap((j) => j.data.tickets).sort()).toEqual([...lost].sort());

    await ctx.startWorkers();
    try {
      const final = await pollUntilTerminal(ctx, [first, ...more].map((b) => ({ ticketId: b.ticketId!, token: b.token })));
      expect([...final.values()].map((t) => t.status)).toEqual(['paid', 'paid', 'paid']);
      expect((await stats(ctx, drop.id)).stock).toEqual({ total: 5, available: 2, reserved: 0, sold: 3 });
      await expectAuditOk(ctx, drop.id);
    } finally {
      await ctx.stopWorkers();
    }
  });

  it('keeps to the product\'s admission rate in tickets, whatever the batch sizes', async () => {
    const drop = await createDrop(ctx, 100);
    await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 20 } });
    const answers = await buyAll(ctx, drop.id, Array.from({ length: 40 }, (_, i) => ({ userId: `rate-${i}` })), 40);
    expect(answers.filter((a) => a.status !== 202)).toEqual([]);
    await ctx.startWorkers();
    try {
      const started = Date.now();
      await new Promise((r) => setTimeout(r, 1000));
      const after1s = await stats(ctx, drop.id);
      const handled = 40 - after1s.tickets.queued;
      // 20 a second with a bucket of 2: at most 2 + 20 per elapsed second, and the queue moves.
      expect(handled).toBeGreaterThan(0);
      expect(handled).toBeLessThanOrEqual(2 + Math.ceil((20 * (Date.now() - started)) / 1000));
      const final = await pollUntilTerminal(ctx, answers.map((b) => ({ ticketId: b.ticketId!, token: b.token })), 30_000);
      expect([...final.values()].every((t) => t.status === 'paid')).toBe(true);
      await expectAuditOk(ctx, drop.id);
    } finally {
      await ctx.stopWorkers();
    }
  });
});

describe('AdmissionBatches', () => {
  it('sends a batch that filled up while another add was on its way, so no ticket waits for the janitor', async () => {
    const name = 'batches-unit';
    const queue = ctx.deps.queues.get(name);
    // One turn of a rush: every admit of the turn answers before any job add returns.
    const tickets = Array.from({ length: 2 * MAX_BATCH + 1 }, (_, i) => `t-${i}`);
    for (const ticketId of tickets) {
      const batch = ctx.deps.admissions.join(777, name);
      ctx.deps.admissions.leave(batch, ticketId);
    }
    await ctx.deps.admissions.flush();
    const jobs = (await queue.getJobs(['waiting'])) as Job<TicketsJob>[];
    expect(jobs.flatMap((j) => j.data.tickets).sort()).toEqual([...tickets].sort());
    expect(Math.max(...jobs.map((j) => j.data.tickets.length))).toBe(MAX_BATCH);
    await queue.obliterate({ force: true });
  });
});

describe('an admission job lingers for more purchases', () => {
  let lctx: TestContext;
  beforeAll(async () => {
    // Long lingers, so that what happens inside them is not a race with a slow machine.
    lctx = await createTestContext('admission-linger', { GENERAL_ADMISSION_LINGER_MS: '1500', DROP_ADMISSION_LINGER_MS: '1500' });
  });
  afterAll(async () => {
    await lctx.close();
  });

  const waiting = async (name: string) => (await lctx.deps.queues.get(name).getJobs(['waiting', 'prioritized'])) as Job<TicketsJob>[];

  it('puts buyers who come one after another into one job per product, sent once the linger is over', async () => {
    const general = await createDrop(lctx, 10, { type: 'general', opensAt: null });
    const drop = await createDrop(lctx, 10);
    const bought = { general: [] as Bought[], drop: [] as Bought[] };
    for (const i of [1, 2, 3]) {
      bought.general.push(...await buyAll(lctx, general.id, [{ userId: `g-${i}` }]));
      bought.drop.push(...await buyAll(lctx, drop.id, [{ userId: `d-${i}` }]));
    }
    const all = [...bought.general, ...bought.drop];
    expect(all.map((b) => b.status)).toEqual([202, 202, 202, 202, 202, 202]);

    // Without the linger each buyer would have a job of their own by now.
    expect(await waiting(GENERAL_QUEUE)).toEqual([]);
    expect(await waiting(reserveQueueName(drop.id))).toEqual([]);
    for (const [queue, buyers] of [[GENERAL_QUEUE, bought.general], [reserveQueueName(drop.id), bought.drop]] as const) {
      await eventually(`the job of ${queue}`, async () => (await waiting(queue)).length > 0, 5000);
      expect((await waiting(queue)).map((j) => j.data.tickets.sort())).toEqual([buyers.map((b) => b.ticketId!).sort()]);
    }

    await lctx.startWorkers();
    try {
      const final = await pollUntilTerminal(lctx, all.map((b) => ({ ticketId: b.ticketId!, token: b.token })));
      expect([...final.values()].map((t) => t.status)).toEqual(all.map(() => 'paid'));
      expect((await stats(lctx, general.id)).stock).toEqual({ total: 10, available: 7, reserved: 0, sold: 3 });
      expect((await stats(lctx, drop.id)).stock).toEqual({ total: 10, available: 7, reserved: 0, sold: 3 });
      await expectAuditOk(lctx, drop.id);
    } finally {
      await lctx.stopWorkers();
    }
  });

  it('keeps a lingering batch open when the job add before it returns', async () => {
    const name = 'linger-after-add';
    const queue = lctx.deps.queues.get(name);
    const first = lctx.deps.admissions.join(779, name);
    lctx.deps.admissions.leave(first, 't-first');
    const sent = lctx.deps.admissions.flush(); // the first job's add is on its way
    const next = lctx.deps.admissions.join(779, name, 400);
    lctx.deps.admissions.leave(next, 't-next');
    await sent;
    const tickets = async () => ((await queue.getJobs(['waiting'])) as Job<TicketsJob>[]).map((j) => j.data.tickets).sort();
    expect(await tickets()).toEqual([['t-first']]);
    await eventually('the lingering job', async () => (await tickets()).length === 2, 5000);
    expect(await tickets()).toEqual([['t-first'], ['t-next']]);
    await queue.obliterate({ force: true });
  });

  it('sends a lingering batch at once on flush (shutdown), and only once', async () => {
    const name = 'linger-unit';
    const queue = lctx.deps.queues.get(name);
    const batch = lctx.deps.admissions.join(778, name, 300);
    lctx.deps.admissions.leave(batch, 't-linger');
    await lctx.deps.admissions.flush();
    expect(((await queue.getJobs(['waiting'])) as Job<TicketsJob>[]).map((j) => j.data.tickets)).toEqual([['t-linger']]);
    await new Promise((r) => setTimeout(r, 500)); // the linger's end finds it sent
    await lctx.deps.admissions.flush();
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 1 });
    await queue.obliterate({ force: true });
  });
});
