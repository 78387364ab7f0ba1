import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, createHmac } from 'node:crypto';
import { createDrop, createTestContext, pollUntilTerminal, type HttpResult, type TestContext } from '../setup/context.ts';
import { buyAll, eventually, expectAuditOk, stats } from '../setup/buyers.ts';
import { mapLimit } from '../setup/drop-helpers.ts';

/**
 * The pre-queue and its lottery (DESIGN.md, docs/event-log.md), end to end over HTTP with
 * the workers running. The lottery's order is recomputed here from the revealed seed with
 * node:crypto, independently of the system's code.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('e2e-prequeue', {}, { role: 'producer' });
  await ctx.startWorkers();
});
afterAll(async () => {
  await ctx.close();
});

const hmacHex = (seed: string, ticketId: string) => createHmac('sha256', seed).update(ticketId).digest('hex');
const sleepUntil = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - Date.now())));
const product = async (id: number) => (await ctx.http('GET', `/products/${id}`)).body;

/** Spearman's rank correlation of two orderings of the same items. */
function spearman(a: string[], b: string[]): number {
  const rank = new Map(b.map((x, i) => [x, i]));
  const n = a.length;
  const d2 = a.reduce((sum, x, i) => sum + (i - rank.get(x)!) ** 2, 0);
  return 1 - (6 * d2) / (n * (n * n - 1));
}

describe('the pre-queue window, on the drop\'s clock', () => {
  it('refuses before queueOpensAt, pre-queues until opensAt, then queues first-come; the seed shows only after the draw', async () => {
    // Windows wide enough for several buyers each even when a loaded machine (a full CI run)
    // takes a second to create the drop and a few hundred ms per buyer.
    const queueOpensAt = Date.now() + 3_000;
    const opensAt = queueOpensAt + 2_500;
    const drop = await createDrop(ctx, 500, { queueOpensAt: new Date(queueOpensAt).toISOString(), opensAt: new Date(opensAt).toISOString() });
    const before = await product(drop.id);
    expect(before).toMatchObject({ queueOpensAt: new Date(queueOpensAt).toISOString(), lottery: { commitment: expect.stringMatching(/^[0-9a-f]{64}$/), seed: null } });

    // A buyer every 20 ms from before the pre-queue opens until after the drop opens.
    const answers: { res: HttpResult; userId: string; token: string }[] = [];
    for (let i = 0; Date.now() < opensAt + 1_200; i++) {
      const userId = `edge-${i}`;
      const token = await ctx.token(userId);
      answers.push({ userId, token, res: await ctx.http('POST', `/products/${drop.id}/purchases`, { token, body: {} }) });
      await new Promise((r) => setTimeout(r, 20));
    }
    const admittedAt = async (ticketId: string) => Number(await ctx.deps.redis.hget(ctx.deps.keys.ticket(drop.id, ticketId), 'created'));
    const kinds = { refused: 0, pre: 0, queued: 0 };
    for (const { res } of answers) {
      if (res.status === 409) {
        expect(res.body.error).toMatchObject({ code: 'not_open', queueOpensAt: new Date(queueOpensAt).toISOString(), opensAt: new Date(opensAt).toISOString() });
        expect(Date.parse(res.body.error.serverTime)).toBeLessThan(queueOpensAt);
        kinds.refused++;
        continue;
      }
      expect(res.status).toBe(202);
      const at = await admittedAt(res.body.ticketId);
      if (res.body.drawAt) {
        // Pre-queued: no place yet, the draw at opensAt, and a wait that starts there.
        expect(res.body.position).toBeUndefined();
        expect(res.body.drawAt).toBe(new Date(opensAt).toISOString());
        expect(at).toBeGreaterThanOrEqual(queueOpensAt);
        expect(at).toBeLessThan(opensAt);
        expect(res.body.etaMs).toBeGreaterThanOrEqual(opensAt - at);
        kinds.pre++;
      } else {
        expect(at).toBeGreaterThanOrEqual(opensAt);
        expect(res.body.position).toEqual(expect.any(Number));
        kinds.queued++;
      }
    }
    expect(Math.min(kinds.refused, kinds.pre, kinds.queued)).toBeGreaterThan(5);

    // After the draw: the seed is shown and hashes to the commitment shown before.
    const after = await product(drop.id);
    expect(after.lottery.commitment).toBe(before.lottery.commitment);
    expect(createHash('sha256').update(after.lottery.seed).digest('hex')).toBe(before.lottery.commitment);
    const tickets = answers.filter((a) => a.res.status === 202).map((a) => ({ ticketId: a.res.body.ticketId as string, token: a.token }));
    await pollUntilTerminal(ctx, tickets, 60_000);
    await expectAuditOk(ctx, drop.id);
  });

  it('validates queueOpensAt: before opensAt, reserve products only', async () => {
    const opensAt = new Date(Date.now() + 60_000).toISOString();
    const bad = [
      { type: 'reserve', opensAt, queueOpensAt: opensAt },
      { type: 'reserve', opensAt, queueOpensAt: new Date(Date.now() + 120_000).toISOString() },
      { type: 'reserve', opensAt, queueOpensAt: 'soon' },
      { type: 'general', queueOpensAt: new Date().toISOString() },
    ];
    for (const body of bad) {
      const res = await ctx.http('POST', '/admin/products', { admin: true, body: { name: 'x', price: 1, stock: 1, ...body } });
      expect({ status: res.status, code: res.body.error?.code, field: res.body.error?.field }).toEqual({ status: 422, code: 'invalid', field: 'queueOpensAt' });
    }
    const drop = await createDrop(ctx, 5, { opensAt });
    const patch = await ctx.http('PATCH', `/admin/products/${drop.id}`, { admin: true, body: { queueOpensAt: new Date(Date.now() + 90_000).toISOString() } });
    expect({ status: patch.status, field: patch.body.error?.field }).toEqual({ status: 422, field: 'queueOpensAt' });
    const ok = await ctx.http('PATCH', `/admin/products/${drop.id}`, { admin: true, body: { queueOpensAt: new Date(Date.now() - 1_000).toISOString() } });
    expect(ok.status).toBe(200);
    expect(ok.body.lottery).toEqual({ commitment: expect.stringMatching(/^[0-9a-f]{64}$/), seed: null });
    const res = await ctx.http('POST', `/products/${drop.id}/purchases`, { token: await ctx.token('early-bird'), body: {} });
    expect(res.status).toBe(202);
    expect(res.body.drawAt).toBe(opensAt);
  });
});

describe('2,000 pre-queued buyers for 200 units', () => {
  it('sells exactly 200, all to pre-queued buyers, in the order the revealed seed gives, which is not the order they came in', async () => {
    const BUYERS = 2_000;
    const STOCK = 200;
    const opensAt = Date.now() + 12_000;
    const drop = await createDrop(ctx, STOCK, { queueOpensAt: new Date(Date.now() - 500).toISOString(), opensAt: new Date(opensAt).toISOString() });
    const pre = await buyAll(ctx, drop.id, Array.from({ length: BUYERS }, (_, i) => ({ userId: `pq-${i}` })));
    expect(Date.now()).toBeLessThan(opensAt);
    expect(pre.filter((a) => a.status !== 202 || !a.body.drawAt)).toEqual([]);
    // Nothing is decided before the draw.
    expect((await stats(ctx, drop.id)).tickets).toMatchObject({ queued: BUYERS, reserved: 0, paid: 0 });

    await sleepUntil(opensAt + 50);
    const late = await buyAll(ctx, drop.id, Array.from({ length: 100 }, (_, i) => ({ userId: `late-${i}` })));
    expect(late.filter((a) => a.status !== 202 && !(a.status === 409 && a.body.error.code === 'sold_out'))).toEqual([]);
    const all = [...pre, ...late].filter((a) => a.status === 202).map((a) => ({ ticketId: a.ticketId!, token: a.token }));
    const final = await pollUntilTerminal(ctx, all, 120_000);
    expect(final.size).toBe(all.length);
    const statusOf = new Map([...final].map(([id, t]) => [id, t.status as string]));

    const paid = [...statusOf].filter(([, s]) => s === 'paid').map(([id]) => id);
    expect(paid).toHaveLength(STOCK);
    const preIds = pre.map((a) => a.ticketId!);
    expect(paid.every((id) => preIds.includes(id))).toBe(true);
    expect(late.filter((a) => a.ticketId).map((a) => statusOf.get(a.ticketId!))).toEqual(late.filter((a) => a.ticketId).map(() => 'sold_out'));

    // The revealed seed gives the order: the 200 smallest HMACs are exactly the 200 sold.
    const { lottery } = await product(drop.id);
    expect(createHash('sha256').update(lottery.seed).digest('hex')).toBe(lottery.commitment);
    const byLottery = [...preIds].sort((a, b) => (hmacHex(lottery.seed, a) < hmacHex(lottery.seed, b) ? -1 : 1));
    expect(new Set(byLottery.slice(0, STOCK))).toEqual(new Set(paid));

    // Not the arrival order (the log's order of admission): for a uniform shuffle of 2,000
    // Spearman's rho is about N(0, 0.022), so |rho| > 0.15 has odds below 1e-10; and the first
    // 200 to arrive should get about 20 of the units (more than 100: odds below 1e-40).
    const log: { ticket_id: string }[] = await ctx.deps.orm.em.getConnection().execute(
      `select ticket_id from drop_events where product_id = ? and type = 'admitted' order by event_ms, event_seq`, [drop.id]);
    const arrival = log.map((r) => r.ticket_id).filter((id) => preIds.includes(id));
    expect(arrival).toHaveLength(BUYERS);
    expect(Math.abs(spearman(arrival, byLottery))).toBeLessThan(0.15);
    const soldToFirstArrivals = arrival.slice(0, STOCK).filter((id) => paid.includes(id)).length;
    expect(soldToFirstArrivals).toBeLessThan(100);

    const audit = await expectAuditOk(ctx, drop.id);
    expect(audit.tickets).toMatchObject({ preQueued: BUYERS, admitted: all.length });
    expect(audit.lottery).toEqual({ commitment: lottery.commitment, seedRevealed: true, verified: true });
  });
});

describe('the ETA of a queued ticket', () => {
  it('is within 25% + 750 ms of the actual wait at a fixed admission rate', async () => {
    const drop = await createDrop(ctx, 1_000, { perUserLimit: 1 });
    await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 20 } });
    // The workers take up a new drop on their next look (the janitor's round): a first buyer,
    // served before the timed ones come, keeps that start-up out of the measured waits.
    const first = { ticketId: '', token: await ctx.token('eta-first') };
    first.ticketId = (await ctx.http('POST', `/products/${drop.id}/purchases`, { token: first.token, body: {} })).body.ticketId;
    await eventually('the drop\'s first buyer served', async () => (await ctx.http('GET', `/tickets/${first.ticketId}`, { token: first.token })).body.status !== 'queued', 30_000);
    const buyers = await Promise.all(Array.from({ length: 60 }, async (_, i) => ({ userId: `eta-${i}`, token: await ctx.token(`eta-${i}`) })));
    const tickets = await mapLimit(buyers, 60, async (b) => {
      const res = await ctx.http('POST', `/products/${drop.id}/purchases`, { token: b.token, body: {} });
      return { ...b, at: Date.now(), ticketId: res.body.ticketId as string, etaMs: res.body.etaMs as number, position: res.body.position as number };
    });
    expect(tickets.every((t) => t.etaMs > 0 && t.position >= 0)).toBe(true);
    const takenAt = new Map<string, number>();
    while (takenAt.size < tickets.length) {
      await Promise.all(tickets.filter((t) => !takenAt.has(t.ticketId)).map(async (t) => {
        const res = await ctx.http('GET', `/tickets/${t.ticketId}`, { token: t.token });
        if (res.body.status !== 'queued') takenAt.set(t.ticketId, Date.now());
      }));
      await new Promise((r) => setTimeout(r, 100));
    }
    const off = tickets.map((t) => {
      const actual = takenAt.get(t.ticketId)! - t.at;
      return { position: t.position, etaMs: t.etaMs, actual, ok: Math.abs(t.etaMs - actual) <= 0.25 * actual + 750 };
    });
    expect(off.filter((o) => !o.ok)).toEqual([]);
    // The last ticket waited about 3 s: the ETA is not trivially small.
    expect(Math.max(...off.map((o) => o.actual))).toBeGreaterThan(2_000);
    await pollUntilTerminal(ctx, tickets, 60_000);
    await expectAuditOk(ctx, drop.id);
  });
});
