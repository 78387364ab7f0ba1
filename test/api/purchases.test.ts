import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { gzipSync } from 'node:zlib';
import { createDrop, createTestContext, type TestContext } from '../setup/context.ts';
import { badTokens, expectError, recordingHttp } from '../setup/drop-helpers.ts';
import { processAdmission } from '../../shared/domain/reservation/reserve.ts';
import { processPayment } from '../../shared/domain/payment/pay.ts';

let ctx: TestContext;
let http: ReturnType<typeof recordingHttp>;
beforeAll(async () => {
  ctx = await createTestContext('purchases');
  http = recordingHttp(ctx);
});
afterAll(async () => {
  await ctx.close();
});

const buy = async (productId: number, user: string, body?: unknown, headers?: Record<string, string>) =>
  http.http('POST', `/products/${productId}/purchases`, { token: await ctx.token(user), body, headers });
const stats = async (productId: number) => (await http.http('GET', `/admin/products/${productId}/stats`, { admin: true })).body;

describe('POST /products/:id/purchases', () => {
  it('answers 202 with a queued ticket, its position, pollAfterMs and a Location header', async () => {
    const drop = await createDrop(ctx, 5);
    const first = await buy(drop.id, 'ann', { quantity: 1, paymentMethod: 'pm_card_ok' });
    const second = await buy(drop.id, 'bob');
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ ticketId: expect.stringMatching(/^\d+-[A-Za-z0-9_-]{16}$/), status: 'queued', position: 0 });
    expect(first.body.pollAfterMs).toBeGreaterThan(0);
    expect(first.headers.get('location')).toBe(`/tickets/${first.body.ticketId}`);
    expect(second).toMatchObject({ status: 202, body: { status: 'queued', position: 1 } });
    expect((await stats(drop.id)).tickets.queued).toBe(2);
  });

  it('answers 200 with the same ticket for the same Idempotency-Key', async () => {
    const drop = await createDrop(ctx, 5);
    const first = await buy(drop.id, 'ann', {}, { 'Idempotency-Key': 'click-1' });
    const again = await buy(drop.id, 'ann', {}, { 'Idempotency-Key': 'click-1' });
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ ticketId: first.body.ticketId, productId: drop.id, status: 'queued', position: 0 });
    expect(again.headers.get('location')).toBe(`/tickets/${first.body.ticketId}`);
    expect((await stats(drop.id)).tickets.queued).toBe(1);
  });

  it('answers 200 with the live ticket for a repeat without a key, or with another key', async () => {
    const drop = await createDrop(ctx, 5);
    const first = await buy(drop.id, 'ann');
    const repeat = await buy(drop.id, 'ann');
    const otherKey = await buy(drop.id, 'ann', {}, { 'Idempotency-Key': 'new-key' });
    expect([first.status, repeat.status, otherKey.status]).toEqual([202, 200, 200]);
    expect(repeat.body.ticketId).toBe(first.body.ticketId);
    expect(otherKey.body.ticketId).toBe(first.body.ticketId);
  });

  it('keeps Idempotency-Keys apart per buyer', async () => {
    const drop = await createDrop(ctx, 5);
    const ann = await buy(drop.id, 'ann', {}, { 'Idempotency-Key': 'same' });
    const bob = await buy(drop.id, 'bob', {}, { 'Idempotency-Key': 'same' });
    expect([ann.status, bob.status]).toEqual([202, 202]);
    expect(bob.body.ticketId).not.toBe(ann.body.ticketId);
  });

  it('admits to a general product at any time and without a per-user limit', async () => {
    const general = await createDrop(ctx, 50, { type: 'general', opensAt: null });
    const res = await buy(general.id, 'ann', { quantity: 5 });
    expect(res).toMatchObject({ status: 202, body: { status: 'queued', productId: general.id } });
    expect((await buy(general.id, 'ann', { quantity: 5 })).status).toBe(200);
  });

  it('gives one ticket to ten clicks at once', async () => {
    const drop = await createDrop(ctx, 5);
    const token = await ctx.token('clicker');
    const clicks = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        http.http('POST', `/products/${drop.id}/purchases`, { token, body: {}, headers: i % 2 ? { 'Idempotency-Key': 'k' } : {} }),
      ),
    );
    expect(clicks.map((c) => c.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 202]);
    expect(new Set(clicks.map((c) => c.body.ticketId)).size).toBe(1);
    expect((await stats(drop.id)).tickets.queued).toBe(1);
  });

  it('answers 400 bad_request for a body that is not valid JSON', async () => {
    const drop = await createDrop(ctx, 5);
    const token = await ctx.token('ann');
    const path = `/products/${drop.id}/purchases`;
    for (const raw of ['{"quantity":1', "{'quantity': 1}", '{quantity: 1}', 'null', '"pm_card_ok"', '{"quantity":1}}']) {
      expectError(await http.http('POST', path, { token, raw }), 400, 'bad_request');
    }
    const wrongEncoding = await http.http('POST', path, { token, raw: '{"quantity":1}', headers: { 'content-encoding': 'gzip' } });
    expectError(wrongEncoding, 400, 'bad_request');
    expectError(await http.http('POST', path, { token, raw: '{}', headers: { 'content-encoding': 'x-unknown' } }), 400, 'bad_request');
    expect((await stats(drop.id)).tickets.queued).toBe(0);
  });

  it('reads a gzip-encoded JSON body', async () => {
    const drop = await createDrop(ctx, 5);
    const res = await fetch(`${ctx.baseUrl}/products/${drop.id}/purchases`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await ctx.token('zip')}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync('{"quantity":1}'),
    });
    expect(res.status).toBe(202);
  });

  it('answers 401 unauthorized for a missing, forged, expired, unsigned or badly named token', async () => {
    const drop = await createDrop(ctx, 5);
    for (const [what, token] of Object.entries(await badTokens(ctx))) {
      const res = await http.http('POST', `/products/${drop.id}/purchases`, { token, body: {} });
      expect({ what, status: res.status }).toEqual({ what, status: 401 });
      expectError(res, 401, 'unauthorized');
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
    const basic = await http.http('POST', `/products/${drop.id}/purchases`, { admin: true, body: {} });
    expectError(basic, 401, 'unauthorized');
    expect((await stats(drop.id)).tickets.queued).toBe(0);
  });

  it('takes the bearer scheme in any case and after more than one space, and nothing else in its place', async () => {
    const drop = await createDrop(ctx, 50);
    let n = 0;
    const as = async (scheme: (token: string) => string) => {
      const token = await ctx.token(`scheme-${++n}`);
      const res = await http.http('POST', `/products/${drop.id}/purchases`, { body: {}, headers: { authorization: scheme(token) } });
      return { res, token, scheme };
    };
    for (const scheme of [(t: string) => `bearer ${t}`, (t: string) => `BEARER ${t}`, (t: string) => `bEaReR ${t}`, (t: string) => `Bearer   ${t}`]) {
      const { res, token } = await as(scheme);
      expect({ header: scheme('<token>'), status: res.status }).toEqual({ header: scheme('<token>'), status: 202 });
      const poll = await http.http('GET', `/tickets/${res.body.ticketId}`, { headers: { authorization: `bearer ${token}` } });
      expect(poll.status).toBe(200);
    }
    for (const scheme of [(t: string) => `Bearer${t}`, (t: string) => `Bearer\t${t}`, (t: string) => `Bearer ${t} extra`, (t: string) => `Bearer ${t}.x`,
      (t: string) => `Token ${t}`, (t: string) => `Bearers ${t}`, (t: string) => `Basic ${t}`, (t: string) => t, () => 'Bearer ']) {
      const { res } = await as(scheme);
      expect({ header: scheme('<token>'), status: res.status }).toEqual({ header: scheme('<token>'), status: 401 });
    }
    expect((await stats(drop.id)).tickets.queued).toBe(4);
  });

  it('answers 404 not_found for unknown and non-numeric product ids', async () => {
    for (const id of ['999999', 'abc', '0', '-1', '1.5', '1e3', '99999999999', '%ZZ', '1%20']) {
      expectError(await buy(id as unknown as number, 'ann', {}), 404, 'not_found');
    }
  });

  it('answers 409 not_open with opensAt and serverTime before the product opens', async () => {
    const opensAt = new Date(Date.now() + 60_000);
    const drop = await createDrop(ctx, 5, { opensAt: opensAt.toISOString() });
    const res = await buy(drop.id, 'ann', {});
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'not_open', opensAt: opensAt.toISOString(), message: expect.any(String) });
    expect(Math.abs(Date.parse(res.body.error.serverTime) - Date.now())).toBeLessThan(5_000);
    expect(Date.parse(res.body.error.serverTime)).toBeLessThan(opensAt.getTime());
    expect((await stats(drop.id)).tickets.queued).toBe(0);
  });

  it('opens at opensAt by the server clock', async () => {
    const drop = await createDrop(ctx, 5, { opensAt: new Date(Date.now() + 1_500).toISOString() });
    expectError(await buy(drop.id, 'ann', {}), 409, 'not_open');
    await new Promise((r) => setTimeout(r, 1_600));
    expect((await buy(drop.id, 'ann', {})).status).toBe(202);
  });

  it('admits while units are held by unpaid reservations, and answers 409 sold_out once truly sold out', async () => {
    const drop = await createDrop(ctx, 1);
    const ann = await buy(drop.id, 'ann', {});
    expect(await processAdmission(ctx.deps, ann.body.ticketId)).toBe('reserved');
    const bob = await buy(drop.id, 'bob', {});
    expect(bob.status).toBe(202);
    expect(await processPayment(ctx.deps, ann.body.ticketId)).toBe('paid');
    const cat = await buy(drop.id, 'cat', {});
    expectError(cat, 409, 'sold_out');
    const bobTicket = await http.http('GET', `/tickets/${bob.body.ticketId}`, { token: await ctx.token('bob') });
    expect(bobTicket.body.status).toBe('sold_out');
    expect(await stats(drop.id)).toMatchObject({ stock: { total: 1, available: 0, reserved: 0, sold: 1 }, tickets: { paid: 1, sold_out: 1, queued: 0 } });
    expectError(await buy(drop.id, 'bob', {}), 409, 'sold_out');
  });

  it('answers 422 invalid naming the field for a bad quantity, payment method or Idempotency-Key', async () => {
    const drop = await createDrop(ctx, 5, { perUserLimit: 2 });
    const cases: [unknown, Record<string, string>, string][] = [
      [{ quantity: 0 }, {}, 'quantity'],
      [{ quantity: -1 }, {}, 'quantity'],
      [{ quantity: 1.5 }, {}, 'quantity'],
      [{ quantity: '1' }, {}, 'quantity'],
      [{ quantity: null }, {}, 'quantity'],
      [{ quantity: 1e9 }, {}, 'quantity'],
      [{ quantity: 3 }, {}, 'quantity'],
      [{ paymentMethod: 'PM CARD' }, {}, 'paymentMethod'],
      [{ paymentMethod: 42 }, {}, 'paymentMethod'],
      [{ paymentMethod: '' }, {}, 'paymentMethod'],
      [{ paymentMethod: 'p'.repeat(65) }, {}, 'paymentMethod'],
      [[1], {}, 'body'],
      [{}, { 'Idempotency-Key': 'has space' }, 'Idempotency-Key'],
      [{}, { 'Idempotency-Key': 'k'.repeat(129) }, 'Idempotency-Key'],
    ];
    for (const [body, headers, field] of cases) {
      const res = await buy(drop.id, 'ann', body, headers);
      expect({ body, status: res.status, field: res.body.error?.field }).toEqual({ body, status: 422, field });
      expectError(res, 422, 'invalid');
    }
    expect((await stats(drop.id)).tickets.queued).toBe(0);
    expect((await buy(drop.id, 'ann', { quantity: 2 })).status).toBe(202);
  });

  it('answers 422 naming quantity when price × quantity is over MAX_ORDER_AMOUNT, and admits one unit of the dearest product', async () => {
    const drop = await createDrop(ctx, 50, { price: 10_000_000, perUserLimit: 10 });
    expect(ctx.config.MAX_ORDER_AMOUNT).toBe(10_000_000);
    for (const quantity of [2, 10]) {
      const res = await buy(drop.id, `dear-${quantity}`, { quantity });
      expectError(res, 422, 'invalid');
      expect(res.body.error.field).toBe('quantity');
    }
    expect((await stats(drop.id)).tickets.queued).toBe(0);
    expect((await buy(drop.id, 'dear-1', { quantity: 1 })).status).toBe(202);
  });

  it('answers 413 payload_too_large for a body over 16kb', async () => {
    const drop = await createDrop(ctx, 5);
    const res = await buy(drop.id, 'ann', { quantity: 1, note: 'x'.repeat(17 * 1024) });
    expectError(res, 413, 'payload_too_large');
    expect((await stats(drop.id)).tickets.queued).toBe(0);
  });

  it('answers 503 paused with Retry-After while the product is paused, and admits again after resume', async () => {
    const drop = await createDrop(ctx, 5);
    expect((await http.http('POST', `/admin/products/${drop.id}/pause`, { admin: true })).body.paused).toBe(true);
    const res = await buy(drop.id, 'ann', {});
    expectError(res, 503, 'paused');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await http.http('POST', `/admin/products/${drop.id}/resume`, { admin: true });
    expect((await buy(drop.id, 'ann', {})).status).toBe(202);
  });

  it('changes nothing when the input is bad', async () => {
    const drop = await createDrop(ctx, 5);
    const before = await stats(drop.id);
    const token = await ctx.token('ann');
    const path = `/products/${drop.id}/purchases`;
    await http.http('POST', path, { token, raw: '{"quantity":' });
    await http.http('POST', path, { body: {} });
    await http.http('POST', path, { token, body: { quantity: 0 } });
    await http.http('POST', path, { token, body: { quantity: 2 } });
    await http.http('POST', path, { token, body: { paymentMethod: 'bad method' } });
    await http.http('POST', path, { token, body: {}, headers: { 'Idempotency-Key': 'bad key' } });
    await http.http('POST', path, { token, body: { note: 'x'.repeat(20_000) } });
    expect(await stats(drop.id)).toEqual(before);
    expect(await ctx.deps.redis.zcard(ctx.deps.keys.product(drop.id).queued)).toBe(0);
    expect(await ctx.deps.redis.hlen(ctx.deps.keys.product(drop.id).live)).toBe(0);
  });

  it('never answered a 5xx in this file', () => {
    expect(http.seen.length).toBeGreaterThan(50);
    expect(http.serverErrors()).toEqual([]);
  });
});

describe('POST /products/:id/purchases with tight limits', () => {
  let tight: TestContext;
  let tightHttp: ReturnType<typeof recordingHttp>;
  beforeAll(async () => {
    tight = await createTestContext('purchases-limits', { USER_RATE_LIMIT_PER_SEC: '3', MAX_QUEUED_PER_PRODUCT: '1' });
    tightHttp = recordingHttp(tight);
  });
  afterAll(async () => {
    await tight.close();
  });

  it('answers 429 rate_limited with Retry-After to a buyer who sends too many requests', async () => {
    const drop = await createDrop(tight, 5, { opensAt: new Date(Date.now() + 60_000).toISOString() });
    const token = await tight.token('hammer');
    const path = `/products/${drop.id}/purchases`;
    const answers: Awaited<ReturnType<typeof tightHttp.http>>[] = [];
    for (let i = 0; i < 5; i++) answers.push(await tightHttp.http('POST', path, { token, body: {} }));
    expect(answers.map((a) => a.status)).toEqual([409, 409, 409, 429, 429]);
    expectError(answers[3], 429, 'rate_limited');
    expect(Number(answers[3].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await tightHttp.http('POST', path, { token: await tight.token('calm'), body: {} })).status).toBe(409);
    await new Promise((r) => setTimeout(r, Number(answers[3].headers.get('retry-after')) * 1000 + 50));
    expect((await tightHttp.http('POST', path, { token, body: {} })).status).toBe(409);
  });

  it('answers 503 busy with Retry-After once the queue is full, and still answers 200 to the queued buyer', async () => {
    const drop = await createDrop(tight, 5);
    const first = await tightHttp.http('POST', `/products/${drop.id}/purchases`, { token: await tight.token('ann'), body: {} });
    expect(first.status).toBe(202);
    const busy = await tightHttp.http('POST', `/products/${drop.id}/purchases`, { token: await tight.token('bob'), body: {} });
    expectError(busy, 503, 'busy');
    expect(Number(busy.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const again = await tightHttp.http('POST', `/products/${drop.id}/purchases`, { token: await tight.token('ann'), body: {} });
    expect(again).toMatchObject({ status: 200, body: { ticketId: first.body.ticketId } });
    expect((await tightHttp.http('GET', `/admin/products/${drop.id}/stats`, { admin: true })).body.tickets.queued).toBe(1);
  });

  it('never answered a 5xx other than busy', () => {
    expect(tightHttp.serverErrors()).toEqual([]);
  });
});
