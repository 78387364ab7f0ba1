import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('admin', { PAYMENT_LATENCY_MS: '5' });
  await ctx.startWorkers();
});
afterAll(async () => {
  await ctx.close();
});

let buyers = 0;
const buy = async (productId: number, body: Record<string, unknown> = {}) => {
  const token = await ctx.token(`admin-test-buyer-${++buyers}`);
  const res = await ctx.http('POST', `/products/${productId}/purchases`, { token, body });
  return { ...res, token };
};

const general = async (stock = 50) => {
  const res = await ctx.http('POST', '/admin/products', { admin: true, body: { name: 'Socks', price: 9.5, type: 'general', stock } });
  expect(res.status).toBe(201);
  return res.body as { id: number };
};

describe('admin credentials', () => {
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it('answers 401 with a Basic challenge on every admin route without credentials', async () => {
    const drop = await createDrop(ctx, 3);
    const routes: [string, string, unknown?][] = [
      ['POST', '/admin/products', { name: 'x', price: 1, type: 'general', stock: 1 }],
      ['PATCH', `/admin/products/${drop.id}`, { stock: 10 }],
      ['POST', `/admin/products/${drop.id}/pause`],
      ['POST', `/admin/products/${drop.id}/resume`],
      ['PUT', `/admin/products/${drop.id}/rate`, { perSecond: 5 }],
      ['GET', `/admin/products/${drop.id}/stats`],
      ['GET', '/admin/dashboard'],
      ['GET', '/admin/dashboard/events'],
      ['GET', '/admin/dashboard/live-drop.js'],
      ['GET', '/admin/queues'],
      ['GET', '/admin/queues/api/queues'],
    ];
    for (const [method, path, body] of routes) {
      const res = await ctx.http(method, path, { body });
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 401 });
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="drop-admin"/);
      expect(res.body.error.code).toBe('unauthorized');
    }
    expect((await ctx.http('GET', `/admin/products/${drop.id}/stats`)).status).toBe(401);
  });

  it('refuses a wrong password and a buyer token, accepts an admin-role token', async () => {
    const drop = await createDrop(ctx, 3);
    const path = `/admin/products/${drop.id}/stats`;
    expect((await ctx.http('GET', path, { headers: { authorization: basic('admin', 'wrong') } })).status).toBe(401);
    expect((await ctx.http('GET', path, { headers: { authorization: basic('root', 'test-admin-password') } })).status).toBe(401);
    expect((await ctx.http('GET', path, { token: await ctx.token('buyer-1') })).status).toBe(401);
    expect((await ctx.http('GET', path, { token: await ctx.token('ops-1', { role: 'admin' }) })).status).toBe(200);
  });

  it('takes Basic in any case and after more than one space, and refuses credentials that are not user:password in base64', async () => {
    const drop = await createDrop(ctx, 3);
    const path = `/admin/products/${drop.id}/stats`;
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const good = b64('admin:test-admin-password');
    for (const authorization of [`basic ${good}`, `BASIC ${good}`, `Basic   ${good}`, `bearer ${await ctx.token('ops-2', { role: 'admin' })}`]) {
      expect({ authorization, status: (await ctx.http('GET', path, { headers: { authorization } })).status }).toEqual({ authorization, status: 200 });
    }
    for (const authorization of [`Basic${good}`, `Basic ${good.slice(0, -1)}`, `Basic ${good}=`, `Basic ${b64('admintest-admin-password')}`,
      `Basic ${b64(':test-admin-password')}`, `Basic ${b64('admin:test-admin-password ')}`, `Basic ${b64('ADMIN:test-admin-password')}`,
      `Basic ${Buffer.from('admin:test-admin-password').toString('base64url').replace(/=+$/, '')}x`, 'Basic', 'Basic ', good]) {
      expect({ authorization, status: (await ctx.http('GET', path, { headers: { authorization } })).status }).toEqual({ authorization, status: 401 });
    }
  });

  it('answers 403 forbidden to an admin change sent from another site, and changes nothing', async () => {
    const drop = await createDrop(ctx, 3);
    const pause = `/admin/products/${drop.id}/pause`;
    const crossSite = await ctx.http('POST', pause, { admin: true, headers: { 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body.error.code).toBe('forbidden');
    const foreignOrigin = await ctx.http('POST', pause, { admin: true, headers: { origin: 'https://evil.example' } });
    expect(foreignOrigin.status).toBe(403);
    expect((await ctx.http('GET', `/admin/products/${drop.id}/stats`, { admin: true })).body.paused).toBe(false);
    const sameOrigin = await ctx.http('POST', pause, { admin: true, headers: { 'sec-fetch-site': 'same-origin', origin: ctx.baseUrl } });
    expect(sameOrigin.status).toBe(200);
    expect(sameOrigin.body.paused).toBe(true);
  });
});

describe('POST /admin/products/:id/pause and /resume', () => {
  it('closes the door with 503 paused and Retry-After, holds queued tickets in place, and reopens on resume', async () => {
    const drop = await createDrop(ctx, 10);
    await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 1 } });
    const before = await Promise.all([buy(drop.id), buy(drop.id), buy(drop.id)]);
    expect(before.map((b) => b.status)).toEqual([202, 202, 202]);

    const paused = await ctx.http('POST', `/admin/products/${drop.id}/pause`, { admin: true });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ productId: drop.id, paused: true });

    const refused = await buy(drop.id);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('paused');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    // While paused, tickets still queued keep waiting: nothing is handed out, nothing lost.
    await new Promise((r) => setTimeout(r, 2500));
    const during = await ctx.http('GET', `/admin/products/${drop.id}/stats`, { admin: true });
    expect(during.body.paused).toBe(true);
    expect(during.body.tickets.queued).toBeGreaterThanOrEqual(1);
    expect(during.body.tickets.queued + during.body.tickets.reserved + during.body.tickets.paid).toBe(3);

    const resumed = await ctx.http('POST', `/admin/products/${drop.id}/resume`, { admin: true });
    expect(resumed.status).toBe(200);
    expect(resumed.body.paused).toBe(false);
    const settled = await pollUntilTerminal(ctx, before.map((b) => ({ ticketId: b.body.ticketId, token: b.token })));
    expect([...settled.values()].map((t) => t.status)).toEqual(['paid', 'paid', 'paid']);
    expect((await buy(drop.id)).status).toBe(202);
  });

  it('answers 404 not_found for an unknown product', async () => {
    for (const action of ['pause', 'resume']) {
      const res = await ctx.http('POST', `/admin/products/987654/${action}`, { admin: true });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
  });
});

describe('PUT /admin/products/:id/rate', () => {
  it('changes the admission rate live', async () => {
    const drop = await createDrop(ctx, 10);
    const res = await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 42 } });
    expect(res.status).toBe(200);
    expect(res.body.ratePerSecond).toBe(42);
    expect((await ctx.http('GET', `/admin/products/${drop.id}/stats`, { admin: true })).body.ratePerSecond).toBe(42);
    // One limiter: the tickets-per-second bucket the stock worker spends (the product's live
    // `rate`), for every worker at once; BullMQ's per-queue job limit is not a second one.
    expect(await ctx.deps.redis.hget(ctx.deps.keys.product(drop.id).product, 'rate')).toBe('42');
    expect(await ctx.deps.queues.get(`reserve-${drop.id}`).getGlobalRateLimit()).toBeNull();
  });

  it('answers 422 invalid naming perSecond for a bad rate, and for a general product', async () => {
    const drop = await createDrop(ctx, 10);
    for (const body of [{ perSecond: 0 }, { perSecond: -5 }, { perSecond: 2.5 }, { perSecond: 'fast' }, {}]) {
      const res = await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body });
      expect(res.status).toBe(422);
      expect(res.body.error).toMatchObject({ code: 'invalid', field: 'perSecond' });
    }
    const socks = await general();
    const res = await ctx.http('PUT', `/admin/products/${socks.id}/rate`, { admin: true, body: { perSecond: 10 } });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'invalid', field: 'perSecond' });
    expect((await ctx.http('PUT', '/admin/products/987654/rate', { admin: true, body: { perSecond: 10 } })).status).toBe(404);
  });
});

describe('PATCH /admin/products/:id', () => {
  it('changes stock live, never below what is sold or held (409 conflict)', async () => {
    const drop = await createDrop(ctx, 3);
    const bought = await buy(drop.id);
    await pollUntilTerminal(ctx, [{ ticketId: bought.body.ticketId, token: bought.token }]);

    const grown = await ctx.http('PATCH', `/admin/products/${drop.id}`, { admin: true, body: { stock: 8 } });
    expect(grown.status).toBe(200);
    expect(grown.body.stock).toEqual({ total: 8, available: 7 });
    const stats = await ctx.http('GET', `/admin/products/${drop.id}/stats`, { admin: true });
    expect(stats.body.stock).toEqual({ total: 8, available: 7, reserved: 0, sold: 1 });

    const below = await ctx.http('PATCH', `/admin/products/${drop.id}`, { admin: true, body: { stock: 0 } });
    expect(below.status).toBe(409);
    expect(below.body.error).toMatchObject({ code: 'conflict', field: 'stock' });
    expect((await ctx.http('GET', `/products/${drop.id}`)).body.stock).toEqual({ total: 8, available: 7 });

    const shrunk = await ctx.http('PATCH', `/admin/products/${drop.id}`, { admin: true, body: { stock: 1 } });
    expect(shrunk.status).toBe(200);
    expect(shrunk.body.stock).toEqual({ total: 1, available: 0 });
    const late = await buy(drop.id);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('sold_out');
  });

  it('moves opensAt: a later instant closes the door with 409 not_open, an earlier one opens it', async () => {
    const drop = await createDrop(ctx, 5);
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const moved = await ctx.http('PATCH', `/admin/products/${drop.id}`, { admin: true, body: { opensAt: later } });
    expect(moved.status).toBe(200);
    expect(moved.body.opensAt).toBe(later);
    const early = await buy(drop.id);
    expect(early.status).toBe(409);
    expect(early.body.error).toMatchObject({ code: 'not_open', opensAt: later });

    const now = new Date(Date.now() - 1000).toISOString();
    expect((await ctx.http('PATCH', `/admin/products/${drop.id}`, { admin: true, body: { opensAt: now } })).status).toBe(200);
    expect((await buy(drop.id)).status).toBe(202);
  });

  it('changes perUserLimit live', async () => {
    const drop = await createDrop(ctx, 10, { perUserLimit: 1 });
    const over = await buy(drop.id, { quantity: 2 });
    expect(over.status).toBe(422);
    expect(over.body.error).toMatchObject({ code: 'invalid', field: 'quantity' });
    const res = await ctx.http('PATCH', `/admin/products/${drop.id}`, { admin: true, body: { perUserLimit: 2 } });
    expect(res.status).toBe(200);
    expect(res.body.perUserLimit).toBe(2);
    expect((await buy(drop.id, { quantity: 2 })).status).toBe(202);
  });

  it('answers 422 invalid naming the field for bad input, and changes nothing', async () => {
    const drop = await createDrop(ctx, 5);
    const cases: [unknown, string][] = [
      [{ stock: -1 }, 'stock'],
      [{ stock: 1.5 }, 'stock'],
      [{ stock: '7' }, 'stock'],
      [{ perUserLimit: -1 }, 'perUserLimit'],
      [{ opensAt: 'tomorrow' }, 'opensAt'],
      [{ opensAt: '2030-01-01T00:00:00' }, 'opensAt'],
      [{}, 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await ctx.http('PATCH', `/admin/products/${drop.id}`, { admin: true, body });
      expect({ body, status: res.status }).toEqual({ body, status: 422 });
      expect(res.body.error).toMatchObject({ code: 'invalid', field });
    }
    const socks = await general();
    const res = await ctx.http('PATCH', `/admin/products/${socks.id}`, { admin: true, body: { opensAt: new Date().toISOString() } });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'invalid', field: 'opensAt' });
    expect((await ctx.http('GET', `/products/${drop.id}`)).body).toMatchObject({ stock: { total: 5, available: 5 }, perUserLimit: 1 });
    expect((await ctx.http('PATCH', '/admin/products/987654', { admin: true, body: { stock: 1 } })).status).toBe(404);
  });
});

describe('GET /admin/products/:id/stats', () => {
  it('reports stock, ticket outcomes, queue depth, paused state and rate', async () => {
    const drop = await createDrop(ctx, 3);
    const bought = await Promise.all([buy(drop.id), buy(drop.id, { paymentMethod: 'pm_card_declined' }), buy(drop.id)]);
    expect(bought.map((b) => b.status)).toEqual([202, 202, 202]);
    await pollUntilTerminal(ctx, bought.map((b) => ({ ticketId: b.body.ticketId, token: b.token })));
    const res = await ctx.http('GET', `/admin/products/${drop.id}/stats`, { admin: true });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      productId: drop.id,
      type: 'reserve',
      stock: { total: 3, available: 1, reserved: 0, sold: 2 },
      tickets: { queued: 0, reserved: 0, paid: 2, sold_out: 0, payment_failed: 1, expired: 0, rejected: 0 },
      queue: { waiting: 0, active: 0, delayed: 0, failed: 0 },
      paused: false,
      ratePerSecond: ctx.config.ADMISSION_RATE_PER_SEC,
    });
  });

  it('answers 404 not_found for an unknown product', async () => {
    const res = await ctx.http('GET', '/admin/products/987654/stats', { admin: true });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});

describe('GET /admin/queues (Bull Board)', () => {
  it('serves the board and lists every queue, including a drop created after start-up', async () => {
    const page = await ctx.http('GET', '/admin/queues', { admin: true });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const drop = await createDrop(ctx, 5);
    let names: string[] = [];
    for (let i = 0; i < 30 && !names.includes(`reserve-${drop.id}`); i++) {
      await new Promise((r) => setTimeout(r, 100));
      const res = await ctx.http('GET', '/admin/queues/api/queues', { admin: true });
      expect(res.status).toBe(200);
      names = res.body.queues.map((q: { name: string }) => q.name);
    }
    expect(names).toEqual(expect.arrayContaining(['general', `payment-${drop.id}`, 'payment-general', 'expiry', `reserve-${drop.id}`]));
  });
});
