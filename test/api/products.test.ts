import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, type TestContext } from '../setup/context.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('products');
});
afterAll(async () => {
  await ctx.close();
});

describe('GET /products', () => {
  it('lists products with live stock and the server clock', async () => {
    const drop = await createDrop(ctx, 5);
    const res = await ctx.http('GET', '/products');
    expect(res.status).toBe(200);
    const p = res.body.find((x: { id: number }) => x.id === drop.id);
    expect(p).toMatchObject({ type: 'reserve', perUserLimit: 1, stock: { total: 5, available: 5 }, price: 120, currency: 'USD' });
    expect(Date.parse(p.serverTime)).toBeGreaterThan(Date.now() - 60_000);
    expect(p.opensAt).toMatch(/Z$/);
  });
});

describe('a crowd refreshing the catalogue', () => {
  /** Watches the product-state reads the API makes (they go through to Redis): how many, and most at once. */
  function watchReads() {
    const state = ctx.deps.productState;
    const original = state.fields.bind(state);
    const seen = { reads: 0, running: 0, mostAtOnce: 0 };
    state.fields = async (ids, fields) => {
      seen.reads++;
      seen.mostAtOnce = Math.max(seen.mostAtOnce, ++seen.running);
      try {
        return await original(ids, fields);
      } finally {
        seen.running--;
      }
    };
    return { seen, restore: () => { state.fields = original; } };
  }

  it('shares the listing\'s reads: 200 clients at once, one read at a time, and each sees every product', async () => {
    const ids = await Promise.all(Array.from({ length: 40 }, async (_, i) =>
      (await ctx.http('POST', '/admin/products', { admin: true, body: { name: `crowd ${i}`, price: 3, type: 'general', stock: 10 + i } })).body.id as number));
    const reads = watchReads();
    try {
      const answers = await Promise.all(Array.from({ length: 200 }, () => ctx.http('GET', '/products')));
      for (const res of answers) {
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
        const listed = new Map((res.body as { id: number; stock: { total: number } }[]).map((p) => [p.id, p.stock.total]));
        expect(ids.map((id) => listed.get(id))).toEqual(ids.map((_, i) => 10 + i));
      }
      // Before: a read per request, as many at once as requests in flight.
      expect(reads.seen.mostAtOnce).toBe(1);
      expect(reads.seen.reads).toBeLessThan(200);
    } finally {
      reads.restore();
    }
  });

  it('answers each request with a read that began after it was sent', async () => {
    const product = (await ctx.http('POST', '/admin/products', { admin: true, body: { name: 'fresh', price: 3, type: 'general', stock: 5 } })).body as { id: number };
    for (const total of [6, 7, 8]) {
      const crowd = Array.from({ length: 50 }, () => ctx.http('GET', '/products'));
      const changed = await ctx.http('PATCH', `/admin/products/${product.id}`, { admin: true, body: { stock: total } });
      expect(changed.status).toBe(200);
      const [listed, one] = await Promise.all([ctx.http('GET', '/products'), ctx.http('GET', `/products/${product.id}`)]);
      expect(listed.body.find((p: { id: number }) => p.id === product.id).stock).toEqual({ total, available: total });
      expect(one.body.stock).toEqual({ total, available: total });
      expect(Math.abs(Date.parse(one.body.serverTime) - Date.now())).toBeLessThan(1_000);
      await Promise.all(crowd);
    }
  });

  it('shares a product page\'s reads among the clients refreshing it', async () => {
    const drop = await createDrop(ctx, 7);
    const reads = watchReads();
    try {
      const answers = await Promise.all(Array.from({ length: 200 }, () => ctx.http('GET', `/products/${drop.id}`)));
      expect(new Set(answers.map((r) => r.status))).toEqual(new Set([200]));
      expect(new Set(answers.map((r) => JSON.stringify(r.body.stock)))).toEqual(new Set([JSON.stringify({ total: 7, available: 7 })]));
      expect(reads.seen.mostAtOnce).toBe(1);
      expect(reads.seen.reads).toBeLessThan(200);
    } finally {
      reads.restore();
    }
  });
});

describe('GET /products/:id', () => {
  it('answers 404 not_found for unknown and non-numeric ids', async () => {
    for (const id of ['999999', 'abc', '0', '-1', '1.5', '99999999999']) {
      const res = await ctx.http('GET', `/products/${id}`);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
  });
});
