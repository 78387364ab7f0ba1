import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, pollUntilTerminal, type HttpResult, type TestContext } from '../setup/context.ts';
import { expectError, mapLimit, recordingHttp } from '../setup/drop-helpers.ts';
import { expectAuditOk } from '../setup/buyers.ts';

const BUYERS = 2_000;
const STOCK = 200;
const IN_FLIGHT = 150;
const EARLY = 100;

let ctx: TestContext;
let http: ReturnType<typeof recordingHttp>;
beforeAll(async () => {
  // The API's deps as api/main.ts makes them; the workers get their own, as deployed.
  ctx = await createTestContext('e2e-drop', {}, { role: 'producer' });
  http = recordingHttp(ctx);
  await ctx.startWorkers();
});
afterAll(async () => {
  await ctx.close();
});

type Buyer = { user: string; token: string; clicks: { key?: string }[]; answers: HttpResult[] };

/** Every tenth buyer clicks three times at once: same key, no key, or a mix of both. */
function clicksOf(i: number): { key?: string }[] {
  if (i % 10 !== 0) return [{ key: i % 2 ? `once-${i}` : undefined }];
  const key = `triple-${i}`;
  return [[{ key }, { key }, { key }], [{}, {}, {}], [{ key }, {}, { key }]][(i / 10) % 3];
}

const percentile = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

describe('a drop of 200 units to 2,000 buyers, end to end over HTTP with the workers running', () => {
  it('sells exactly 200 units, one ticket per buyer, every ticket terminal, never a 5xx', async () => {
    const buyers: Buyer[] = await Promise.all(
      Array.from({ length: BUYERS }, async (_, i) => ({ user: `buyer-${i}`, token: await ctx.token(`buyer-${i}`), clicks: clicksOf(i), answers: [] })),
    );
    const opensAtMs = Date.now() + 2_500;
    const drop = await createDrop(ctx, STOCK, { opensAt: new Date(opensAtMs).toISOString() });
    const path = `/products/${drop.id}/purchases`;
    const post = (b: Buyer, key?: string) =>
      http.http('POST', path, { token: b.token, body: { quantity: 1, paymentMethod: 'pm_card_ok' }, headers: key ? { 'Idempotency-Key': key } : {} });

    // Too early: the door is shut, whatever the client's clock says.
    const early = await mapLimit(buyers.slice(1, EARLY + 1), 50, (b) => post(b, `early-${b.user}`));
    expect(Date.now()).toBeLessThan(opensAtMs);
    for (const res of early) {
      expectError(res, 409, 'not_open');
      expect(res.body.error.opensAt).toBe(new Date(opensAtMs).toISOString());
      expect(Date.parse(res.body.error.serverTime)).toBeLessThan(opensAtMs);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, opensAtMs - Date.now() + 20)));

    // The rush.
    const started = performance.now();
    const latencies: number[] = [];
    await mapLimit(buyers, IN_FLIGHT, async (b) => {
      b.answers = await Promise.all(
        b.clicks.map(async (c) => {
          const t0 = performance.now();
          const res = await post(b, c.key);
          latencies.push(performance.now() - t0);
          return res;
        }),
      );
    });
    const admissionSecs = (performance.now() - started) / 1000;
    const posts = buyers.reduce((n, b) => n + b.answers.length, 0);

    // One ticket per buyer, whatever they clicked: one 202 and 200s for the same ticket, or sold out.
    const tickets: { ticketId: string; token: string; user: string }[] = [];
    for (const b of buyers) {
      const statuses = b.answers.map((a) => a.status).sort();
      const ids = new Set(b.answers.filter((a) => a.status < 300).map((a) => a.body.ticketId));
      if (statuses[0] === 409) {
        expect({ user: b.user, statuses }).toEqual({ user: b.user, statuses: b.answers.map(() => 409) });
        for (const a of b.answers) expectError(a, 409, 'sold_out');
        continue;
      }
      expect({ user: b.user, created: statuses.filter((s) => s === 202).length, tickets: ids.size }).toEqual({ user: b.user, created: 1, tickets: 1 });
      // A click without the first click's Idempotency-Key that arrives after that ticket
      // already ended is a new request: the door may refuse it (sold out, or the buyer's
      // limit), but never gives a second ticket. Clicks sharing one key always get it.
      const refused = b.answers.filter((a) => a.status >= 300);
      const oneKey = b.clicks.every((c) => c.key !== undefined && c.key === b.clicks[0].key);
      if (oneKey) expect({ user: b.user, refused: refused.length }).toEqual({ user: b.user, refused: 0 });
      for (const a of refused) expect([409, 422]).toContain(a.status);
      for (const a of refused) expect(['sold_out', 'invalid']).toContain(a.body.error.code);
      const created = b.answers.find((a) => a.status === 202)!;
      expect(created.body).toMatchObject({ status: 'queued', position: expect.any(Number), pollAfterMs: expect.any(Number) });
      expect(created.headers.get('location')).toBe(`/tickets/${created.body.ticketId}`);
      tickets.push({ ticketId: created.body.ticketId, token: b.token, user: b.user });
    }
    expect(tickets.length).toBeGreaterThanOrEqual(STOCK);

    // Every ticket ends, and the stock is sold exactly once.
    const final = await pollUntilTerminal(ctx, tickets, 90_000);
    expect(final.size).toBe(tickets.length);
    const byStatus: Record<string, number> = {};
    for (const v of final.values()) byStatus[v.status] = (byStatus[v.status] ?? 0) + 1;
    expect(byStatus).toEqual({ paid: STOCK, sold_out: tickets.length - STOCK });
    const lastTerminalMs = Math.max(...[...final.values()].map((v) => Date.parse(v.updatedAt)));
    const settleSecs = (lastTerminalMs - opensAtMs) / 1000;

    const paidTickets = new Set([...final.values()].filter((v) => v.status === 'paid').map((v) => v.ticketId));
    const orders: { ticket_id: string; user_id: string; status: string; quantity: number }[] = await ctx.deps.orm.em
      .getConnection()
      .execute('select ticket_id, user_id, status, quantity from orders where product_id = ?', [drop.id]);
    expect(orders.filter((o) => o.status === 'paid')).toHaveLength(STOCK);
    expect(orders).toHaveLength(STOCK);
    expect(new Set(orders.map((o) => o.ticket_id))).toEqual(paidTickets);
    expect(new Set(orders.map((o) => o.user_id)).size).toBe(STOCK);
    expect(orders.every((o) => Number(o.quantity) === 1)).toBe(true);

    const stats = (await http.http('GET', `/admin/products/${drop.id}/stats`, { admin: true })).body;
    expect(stats.stock.sold + stats.stock.reserved + stats.stock.available).toBe(stats.stock.total);
    expect(stats.stock).toEqual({ total: STOCK, available: 0, reserved: 0, sold: STOCK });
    expect(stats.tickets).toMatchObject({ queued: 0, reserved: 0, paid: STOCK, sold_out: tickets.length - STOCK });

    // Once truly sold out, the door says so.
    const late = await post({ user: 'late', token: await ctx.token('late'), clicks: [], answers: [] });
    expectError(late, 409, 'sold_out');

    expect(http.serverErrors()).toEqual([]);
    // Every refusal at the door is counted by its code, those answered from memory too.
    await ctx.deps.refusals.flush();
    const audit = await expectAuditOk(ctx, drop.id);
    const refusedAnswers: Record<string, number> = {};
    for (const a of [...early, ...buyers.flatMap((b) => b.answers), late].filter((r) => r.status === 409 || r.status === 422)) {
      const code = a.body.error.code === 'invalid' ? 'over_limit' : a.body.error.code;
      refusedAnswers[code] = (refusedAnswers[code] ?? 0) + 1;
    }
    expect(audit.refusals).toEqual(refusedAnswers);

    console.log(
      [
        `drop: ${BUYERS} buyers (${posts} POSTs, ${IN_FLIGHT} in flight) for ${STOCK} units`,
        `admission: ${(posts / admissionSecs).toFixed(0)} requests/s (${(BUYERS / admissionSecs).toFixed(0)} buyers/s) over ${admissionSecs.toFixed(2)} s`,
        `POST latency: p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms`,
        `tickets: ${tickets.length} (${STOCK} paid, ${tickets.length - STOCK} sold_out), ${BUYERS - tickets.length} buyers turned away with 409 sold_out`,
        `settled: last ticket terminal ${settleSecs.toFixed(2)} s after opensAt`,
      ].join('\n'),
    );
  });
});
