import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, type TestContext } from '../setup/context.ts';
import { badTokens, expectError, recordingHttp } from '../setup/drop-helpers.ts';
import { processAdmission } from '../../shared/domain/reservation/reserve.ts';
import { processPayment } from '../../shared/domain/payment/pay.ts';
import { processExpiry } from '../../shared/domain/expiry/expire.ts';

let ctx: TestContext;
let http: ReturnType<typeof recordingHttp>;
beforeAll(async () => {
  ctx = await createTestContext('tickets');
  http = recordingHttp(ctx);
});
afterAll(async () => {
  await ctx.close();
});

async function buy(productId: number, user: string, body: unknown = {}) {
  const token = await ctx.token(user);
  const res = await http.http('POST', `/products/${productId}/purchases`, { token, body });
  if (res.status !== 202) throw new Error(`buy: ${res.status} ${JSON.stringify(res.body)}`);
  return { ticketId: res.body.ticketId as string, token };
}
const view = (t: { ticketId: string; token: string }) => http.http('GET', `/tickets/${t.ticketId}`, { token: t.token });

describe('GET /tickets/:id', () => {
  it('answers 200 with the ticket and its place in the queue to its owner', async () => {
    const drop = await createDrop(ctx, 5);
    const first = await buy(drop.id, 'ann');
    const second = await buy(drop.id, 'bob');
    const res = await view(second);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      ticketId: second.ticketId, productId: drop.id, status: 'queued', position: 1, etaMs: expect.any(Number),
      createdAt: expect.any(String), updatedAt: expect.any(String), pollAfterMs: expect.any(Number),
    });
    expect(Date.parse(res.body.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(await processAdmission(ctx.deps, first.ticketId)).toBe('reserved');
    expect((await view(second)).body).toMatchObject({ status: 'queued', position: 0 });
  });

  it('follows a ticket from queued through reserved to paid, with its order, and paid never changes', async () => {
    const drop = await createDrop(ctx, 5);
    const t = await buy(drop.id, 'ann');
    await processAdmission(ctx.deps, t.ticketId);
    const reserved = await view(t);
    expect(reserved.body).toMatchObject({ status: 'reserved', orderId: expect.any(Number) });
    expect(reserved.body.position).toBeUndefined();
    expect(await processPayment(ctx.deps, t.ticketId)).toBe('paid');
    const paid = await view(t);
    expect(paid.body).toMatchObject({ status: 'paid', orderId: reserved.body.orderId });
    expect(paid.body.pollAfterMs).toBeUndefined();
    expect(await processExpiry(ctx.deps, t.ticketId)).toBe('paid');
    expect(await processAdmission(ctx.deps, t.ticketId)).toBe('paid');
    expect((await view(t)).body).toEqual(paid.body);
  });

  it('shows payment_failed with its reason when the card is declined, and the unit goes back', async () => {
    const drop = await createDrop(ctx, 1);
    const t = await buy(drop.id, 'ann', { paymentMethod: 'pm_card_declined' });
    await processAdmission(ctx.deps, t.ticketId);
    await expect(processPayment(ctx.deps, t.ticketId)).rejects.toThrow(/declined/);
    expect((await view(t)).body).toMatchObject({ status: 'payment_failed', reason: 'card_declined' });
    const stats = await http.http('GET', `/admin/products/${drop.id}/stats`, { admin: true });
    expect(stats.body.stock).toEqual({ total: 1, available: 1, reserved: 0, sold: 0 });
  });

  it('answers 404 not_found to anyone but the owner', async () => {
    const drop = await createDrop(ctx, 5);
    const t = await buy(drop.id, 'ann');
    const res = await http.http('GET', `/tickets/${t.ticketId}`, { token: await ctx.token('mallory') });
    expectError(res, 404, 'not_found');
    expect(JSON.stringify(res.body)).not.toContain('ann');
  });

  it('answers 404 not_found for malformed and unknown ticket ids', async () => {
    const drop = await createDrop(ctx, 5);
    const token = await ctx.token('ann');
    const ids = ['abc', '1', `${drop.id}-`, `${drop.id}-short`, `${drop.id}-AAAAAAAAAAAAAAAA`, `0-AAAAAAAAAAAAAAAA`,
      `${drop.id}-AAAAAAAAAAAAAAAAA`, `${drop.id}-AAAAAAAA%2FAAAAAAA`, '%E0%A4%A', `99999999999-AAAAAAAAAAAAAAAA`, `${drop.id}-AAAA*AAAAAAAAAAA`];
    for (const id of ids) expectError(await http.http('GET', `/tickets/${id}`, { token }), 404, 'not_found');
  });

  it('answers 401 unauthorized without a valid token', async () => {
    const drop = await createDrop(ctx, 5);
    const t = await buy(drop.id, 'ann');
    for (const token of Object.values(await badTokens(ctx))) {
      expectError(await http.http('GET', `/tickets/${t.ticketId}`, { token }), 401, 'unauthorized');
    }
  });

  it('is served from the MySQL ledger after Redis forgot the ticket, still to its owner only', async () => {
    const drop = await createDrop(ctx, 5);
    const t = await buy(drop.id, 'ann');
    await processAdmission(ctx.deps, t.ticketId);
    await processPayment(ctx.deps, t.ticketId);
    const live = (await view(t)).body;
    await ctx.deps.redis.del(ctx.deps.keys.ticket(drop.id, t.ticketId));
    const res = await view(t);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ticketId: t.ticketId, productId: drop.id, status: 'paid', orderId: live.orderId });
    expectError(await http.http('GET', `/tickets/${t.ticketId}`, { token: await ctx.token('mallory') }), 404, 'not_found');
  });
});

describe('GET /orders and /orders/:id', () => {
  it('lists the caller\'s orders only and answers 404 for someone else\'s order', async () => {
    const drop = await createDrop(ctx, 5);
    const ann = await buy(drop.id, 'order-ann');
    const bob = await buy(drop.id, 'order-bob');
    for (const t of [ann, bob]) await processAdmission(ctx.deps, t.ticketId);
    await processPayment(ctx.deps, ann.ticketId);
    const list = await http.http('GET', '/orders', { token: ann.token });
    expect(list.status).toBe(200);
    expect(list.body).toEqual([
      expect.objectContaining({ ticketId: ann.ticketId, productId: drop.id, quantity: 1, amount: 120, currency: 'USD', status: 'paid' }),
    ]);
    const orderId = list.body[0].id;
    expect((await http.http('GET', `/orders/${orderId}`, { token: ann.token })).body).toEqual(list.body[0]);
    expectError(await http.http('GET', `/orders/${orderId}`, { token: bob.token }), 404, 'not_found');
    for (const id of ['abc', '0', '999999']) expectError(await http.http('GET', `/orders/${id}`, { token: ann.token }), 404, 'not_found');
    expectError(await http.http('GET', '/orders'), 401, 'unauthorized');
    expect((await http.http('GET', '/orders', { token: bob.token })).body).toMatchObject([{ ticketId: bob.ticketId, status: 'pending' }]);
  });

  it('shows an order as its ticket ended while the worker has yet to settle the row, and the row catches up', async () => {
    const drop = await createDrop(ctx, 5);
    const dan = await buy(drop.id, 'order-dan');
    await processAdmission(ctx.deps, dan.ticketId);
    await processPayment(ctx.deps, dan.ticketId);
    const [{ id: orderId }] = (await http.http('GET', '/orders', { token: dan.token })).body;
    // The worker's moment between Redis deciding the end and MySQL's row saying it.
    const sql = ctx.deps.orm.em.getConnection();
    await sql.execute("update orders set status = 'pending' where id = ?", [orderId]);
    expect((await http.http('GET', `/tickets/${dan.ticketId}`, { token: dan.token })).body.status).toBe('paid');
    expect((await http.http('GET', '/orders', { token: dan.token })).body).toMatchObject([{ id: orderId, status: 'paid' }]);
    expect((await http.http('GET', `/orders/${orderId}`, { token: dan.token })).body).toMatchObject({ status: 'paid' });
    // The job's retry (or the worker's next line) settles the row to what Redis decided.
    await processPayment(ctx.deps, dan.ticketId);
    const [row] = await sql.execute('select status from orders where id = ?', [orderId]);
    expect(row.status).toBe('paid');
  });

  it('keeps buyers whose ids differ only in case apart: CAROL sees none of carol\'s orders, tickets or payments', async () => {
    const drop = await createDrop(ctx, 5);
    const carol = await buy(drop.id, 'carol');
    await processAdmission(ctx.deps, carol.ticketId);
    await processPayment(ctx.deps, carol.ticketId);
    const own = await http.http('GET', '/orders', { token: carol.token });
    expect(own.body).toMatchObject([{ ticketId: carol.ticketId, status: 'paid', payment: { status: 'succeeded' } }]);
    for (const impostor of ['CAROL', 'Carol', 'caroL']) {
      const token = await ctx.token(impostor);
      expect((await http.http('GET', '/orders', { token })).body).toEqual([]);
      expectError(await http.http('GET', `/orders/${own.body[0].id}`, { token }), 404, 'not_found');
      expectError(await http.http('GET', `/tickets/${carol.ticketId}`, { token }), 404, 'not_found');
    }
    // Ticket ids are case-sensitive in the ledger too: another spelling is another (unknown) ticket.
    const [row] = await ctx.deps.orm.em.getConnection().execute('select count(*) as n from orders where ticket_id = ?',
      [carol.ticketId.toUpperCase()]);
    expect(Number(row.n)).toBe(carol.ticketId === carol.ticketId.toUpperCase() ? 1 : 0);
  });

  it('never answered a 5xx in this file', () => {
    expect(http.serverErrors()).toEqual([]);
  });
});
