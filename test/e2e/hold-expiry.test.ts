import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { recordingHttp } from '../setup/drop-helpers.ts';
import { expectAuditOk } from '../setup/buyers.ts';

let ctx: TestContext;
let http: ReturnType<typeof recordingHttp>;
beforeAll(async () => {
  ctx = await createTestContext('e2e-expiry', { PAYMENT_HOLD_MS: '1000' });
  http = recordingHttp(ctx);
  await ctx.startWorkers();
});
afterAll(async () => {
  await ctx.close();
});

describe('a hold that runs out', () => {
  it('returns its units once, to the next buyers in line, and the late charge is refunded without resurrecting it', async () => {
    const units = 5;
    const drop = await createDrop(ctx, units);
    const buyers = await Promise.all(Array.from({ length: 20 }, async (_, i) => ({
      user: `b${i}`, token: await ctx.token(`b${i}`), slow: i < units,
    })));
    const tickets = [];
    // One at a time, so the slow payers are the first in the queue.
    for (const b of buyers) {
      const res = await http.http('POST', `/products/${drop.id}/purchases`, {
        token: b.token, body: { paymentMethod: b.slow ? 'pm_card_slow' : 'pm_card_ok' },
      });
      expect(res.status).toBe(202);
      tickets.push({ ticketId: res.body.ticketId as string, token: b.token, slow: b.slow });
    }
    const final = await pollUntilTerminal(ctx, tickets, 30_000);
    expect(final.size).toBe(tickets.length);
    const statuses = tickets.map((t) => final.get(t.ticketId).status);
    expect(statuses.slice(0, units)).toEqual(Array(units).fill('expired'));
    expect(statuses.slice(units, 2 * units)).toEqual(Array(units).fill('paid'));
    expect(statuses.slice(2 * units)).toEqual(Array(20 - 2 * units).fill('sold_out'));

    // The slow charges land after the holds ran out: each is refunded and its ticket stays expired.
    const slow = tickets.filter((t) => t.slow);
    const refunds = async () => Number((await ctx.deps.orm.em.getConnection().execute(
      `select count(*) as n from payments where status = 'refunded' and ticket_id in (${slow.map(() => '?').join(',')})`,
      slow.map((t) => t.ticketId)))[0].n);
    const deadline = Date.now() + 15_000;
    while ((await refunds()) < units && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await refunds()).toBe(units);
    for (const t of slow) expect((await http.http('GET', `/tickets/${t.ticketId}`, { token: t.token })).body.status).toBe('expired');

    const rows: { status: string; n: number }[] = await ctx.deps.orm.em.getConnection()
      .execute('select status, count(*) as n from orders where product_id = ? group by status', [drop.id]);
    expect(Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]))).toEqual({ paid: units, expired: units });
    const stats = (await http.http('GET', `/admin/products/${drop.id}/stats`, { admin: true })).body;
    expect(stats.stock).toEqual({ total: units, available: 0, reserved: 0, sold: units });
    expect(stats.tickets).toMatchObject({ paid: units, expired: units, sold_out: 20 - 2 * units, queued: 0, reserved: 0 });
    expect(http.serverErrors()).toEqual([]);
    await expectAuditOk(ctx, drop.id);
  });
});
