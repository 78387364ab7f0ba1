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

describe('GET /products/:id', () => {
  it('answers 404 not_found for unknown and non-numeric ids', async () => {
    for (const id of ['999999', 'abc', '0', '-1', '1.5', '99999999999']) {
      const res = await ctx.http('GET', `/products/${id}`);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
  });
});
