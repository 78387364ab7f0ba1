import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, type TestContext } from '../../setup/context.ts';
import { overdueAt } from '../../../shared/domain/recovery/repair.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('read-many');
});
afterAll(async () => {
  await ctx.close();
});

/**
 * Reads of many products at once (the catalogue's listing, the janitor's peek): on one
 * server one pipeline (the listing's with one TIME and an HMGET each), on a Cluster a
 * script call each. Either way each product gets its own
 * answer, in order, the same as a call of its own would give, also when Redis has
 * forgotten the scripts (ioredis loads them again, in a pipeline too).
 */
describe('scripts run for many products', () => {
  it('answers each product as a call of its own does, in order', async () => {
    const drops = await Promise.all([3, 5, 8, 13].map((stock) => createDrop(ctx, stock)));
    const ids = [...drops.map((d) => d.id), 987_654];
    const fields = ['total', 'available', 'nope'];
    const many = await ctx.deps.productState.fields(ids, fields);
    const alone = await Promise.all(ids.map((id) => ctx.deps.scripts.readFields(id, fields)));
    expect(many.map((r) => r.values)).toEqual(alone.map((r) => r.values));
    expect(many.map((r) => r.values)).toEqual([['3', '3', null], ['5', '5', null], ['8', '8', null], ['13', '13', null], [null, null, null]]);
    for (const r of many) expect(Math.abs(r.serverTimeMs - Date.now())).toBeLessThan(1_000);
    const at = overdueAt(Date.now());
    expect(await ctx.deps.scripts.peekEach(ids, at)).toEqual(await Promise.all(ids.map((id) => ctx.deps.scripts.peek(id, at))));
  });

  it('still answers after Redis forgot its scripts', async () => {
    const drops = await Promise.all([2, 4].map((stock) => createDrop(ctx, stock)));
    const ids = drops.map((d) => d.id);
    await ctx.deps.productState.fields(ids, ['total']); // loaded on this connection
    for (const node of ctx.deps.redis.constructor.name === 'Cluster' ? (ctx.deps.redis as import('ioredis').Cluster).nodes('master') : [ctx.deps.redis]) {
      await node.script('FLUSH');
    }
    expect((await ctx.deps.productState.fields(ids, ['total'])).map((r) => r.values)).toEqual([['2'], ['4']]);
    expect((await ctx.deps.scripts.peekEach(ids, 0)).map((c) => c.queued)).toEqual([0, 0]);
  });
});
