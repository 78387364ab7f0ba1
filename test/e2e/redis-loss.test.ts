import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, keysMatching, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { buyAll, eventually, expectAuditOk, ledger, stats } from '../setup/buyers.ts';
import { dropPaymentQueueName, queuePrefix, reserveQueueName } from '../../shared/queues/queues.ts';

describe('when Redis loses a product', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext('redisloss', { PAYMENT_HOLD_MS: '3000' });
    await ctx.startWorkers();
  });
  afterAll(async () => {
    await ctx.close();
  });

  // The product's own keys; its queues (which share its hash tag) stay, unless a test drops them too.
  const dropProductKeys = async (productId: number) => {
    const queues = [reserveQueueName(productId), dropPaymentQueueName(productId)].map((q) => `${queuePrefix(ctx.config.KEY_PREFIX, q)}:${q}:`);
    const keys = (await keysMatching(ctx.deps.redis, `${ctx.config.KEY_PREFIX}:{p:${productId}}:*`))
      .filter((key) => !queues.some((q) => key.startsWith(q)));
    expect(keys.length).toBeGreaterThan(0);
    await ctx.deps.redis.del(...keys);
  };
  const queueKeysOf = (name: string) => keysMatching(ctx.deps.redis, `${queuePrefix(ctx.config.KEY_PREFIX, name)}:${name}:*`);

  it('rebuilds stock, holdings and paid counts from the MySQL ledger before admitting again', async () => {
    const drop = await createDrop(ctx, 20, { perUserLimit: 2 });
    const paid = await buyAll(ctx, drop.id, Array.from({ length: 8 }, (_, i) => ({ userId: `paid-${i}` })));
    await pollUntilTerminal(ctx, paid.map((a) => ({ ticketId: a.ticketId!, token: a.token })));
    // Slow cards hold units with pending orders at the moment Redis forgets everything.
    const held = await buyAll(ctx, drop.id, Array.from({ length: 5 }, (_, i) => ({ userId: `held-${i}`, paymentMethod: 'pm_card_slow' })));
    await eventually('5 pending orders', async () => (await ledger(ctx, drop.id)).pendingOrders === 5);

    await dropProductKeys(drop.id);
    const lost = await ctx.http('GET', '/admin/reconcile', { admin: true });
    expect(lost.body.ok).toBe(false);
    expect(lost.body.products.find((p: { productId: number }) => p.productId === drop.id).drift[0].field).toBe('state');

    // The next buyer at the door triggers the rebuild and is admitted against the rebuilt stock.
    const [next] = await buyAll(ctx, drop.id, [{ userId: 'after-loss' }]);
    expect(next.status).toBe(202);
    const s = await stats(ctx, drop.id);
    expect(s.stock.sold).toBe(8);
    expect(s.stock.sold + s.stock.reserved + s.stock.available).toBe(20);
    expect(s.stock.reserved).toBeGreaterThanOrEqual(5);
    expect(s.tickets.paid).toBe(8);

    // Holdings came back too: a paid buyer is still held to the per-user limit.
    const [again] = await buyAll(ctx, drop.id, [{ userId: 'paid-0', quantity: 2 }]);
    expect(again.status).toBe(422);

    // Paid tickets stay readable from the ledger after Redis forgot them.
    const old = await ctx.http('GET', `/tickets/${paid[0].ticketId}`, { token: paid[0].token });
    expect(old.body).toMatchObject({ status: 'paid', productId: drop.id });

    // Restored holds run out (or get paid) and the ledger ends balanced.
    await pollUntilTerminal(ctx, [{ ticketId: next.ticketId!, token: next.token }]);
    await eventually('holds settled', async () => (await stats(ctx, drop.id)).stock.reserved === 0, 30_000);
    const end = await stats(ctx, drop.id);
    const l = await ledger(ctx, drop.id);
    expect(end.stock.sold).toBe(l.paidUnits);
    expect(end.stock.sold + end.stock.available).toBe(20);
    expect(l.pendingOrders).toBe(0);
    const recon = await ctx.http('GET', '/admin/reconcile', { admin: true });
    expect(recon.body.products.find((p: { productId: number }) => p.productId === drop.id).drift).toEqual([]);
    expect(held).toHaveLength(5);
    await expectAuditOk(ctx, drop.id);
  });

  it("brings a product back paused and at the rate an operator left it, queue included", async () => {
    const drop = await createDrop(ctx, 5);
    expect((await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 7 } })).status).toBe(200);
    expect((await ctx.http('POST', `/admin/products/${drop.id}/pause`, { admin: true })).status).toBe(200);

    // Redis forgets the product and its queue (the queue's pause and rate limit with it).
    await dropProductKeys(drop.id);
    const queueKeys = await queueKeysOf(reserveQueueName(drop.id));
    expect(queueKeys.length).toBeGreaterThan(0);
    await ctx.deps.redis.del(...queueKeys);

    // The rebuild the next buyer triggers restores both: the door stays shut.
    const [shut] = await buyAll(ctx, drop.id, [{ userId: 'while-paused' }]);
    expect(shut.status).toBe(503);
    expect(shut.body.error.code).toBe('paused');
    expect(await stats(ctx, drop.id)).toMatchObject({ paused: true, ratePerSecond: 7 });
    const queue = ctx.deps.queues.get(reserveQueueName(drop.id));
    expect(await queue.isPaused()).toBe(true);
    expect(await ctx.deps.redis.hget(ctx.deps.keys.product(drop.id).product, 'rate')).toBe('7');

    // Resuming is remembered the same way.
    expect((await ctx.http('POST', `/admin/products/${drop.id}/resume`, { admin: true })).status).toBe(200);
    await dropProductKeys(drop.id);
    const [open] = await buyAll(ctx, drop.id, [{ userId: 'after-resume' }]);
    expect(open.status).toBe(202);
    expect(await stats(ctx, drop.id)).toMatchObject({ paused: false, ratePerSecond: 7 });
    expect(await queue.isPaused()).toBe(false);
  });

  it('gives a pending order its hold back even when a step on its way left a stray field on its ticket', async () => {
    const drop = await createDrop(ctx, 5);
    const [slow] = await buyAll(ctx, drop.id, [{ userId: 'stray-1', paymentMethod: 'pm_card_slow' }]);
    await eventually('a pending order', async () => (await ledger(ctx, drop.id)).pendingOrders === 1);
    const ticketKey = ctx.deps.keys.ticket(drop.id, slow.ticketId!);
    const [{ id }] = await ctx.deps.orm.em.getConnection().execute('select id from orders where ticket_id = ?', [slow.ticketId]);
    const orderId = String(id);
    // Redis loses the product; a stock-worker step that was on its way writes its field after.
    await dropProductKeys(drop.id);
    await ctx.deps.redis.hset(ticketKey, 'order', orderId);

    const [next] = await buyAll(ctx, drop.id, [{ userId: 'stray-2' }]);
    expect(next.status).toBe(202);
    const restored = await ctx.deps.redis.hgetall(ticketKey);
    expect(restored).toMatchObject({ status: 'reserved', user: 'stray-1', qty: '1', order: orderId, pm: 'pm_card_slow' });
    expect(await ctx.deps.redis.zscore(ctx.deps.keys.product(drop.id).holds, slow.ticketId!)).not.toBeNull();
    // The slow card's hold runs out again; everything ends, nothing drifts.
    const final = await pollUntilTerminal(ctx, [slow, next].map((a) => ({ ticketId: a.ticketId!, token: a.token })));
    expect(final.get(slow.ticketId!)?.status).toBe('expired');
    expect(final.get(next.ticketId!)?.status).toBe('paid');
    await eventually('holds settled', async () => (await stats(ctx, drop.id)).stock.reserved === 0, 30_000);
    expect((await ledger(ctx, drop.id)).pendingOrders).toBe(0);
    const recon = await ctx.http('GET', '/admin/reconcile', { admin: true });
    expect(recon.body.products.find((p: { productId: number }) => p.productId === drop.id).drift).toEqual([]);
    await expectAuditOk(ctx, drop.id);
  });

  it('queues again, in their order, the waiting tickets that outlived their product\'s state, and sells out exactly', async () => {
    const STOCK = 10;
    const drop = await createDrop(ctx, STOCK);
    await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 5 } });
    const answers = await buyAll(ctx, drop.id, Array.from({ length: 30 }, (_, i) => ({ userId: `outlived-${i}` })));
    expect(answers.every((a) => a.status === 202)).toBe(true);
    // Redis loses the product's hash, sets and queue, but not its tickets' hashes.
    const k = ctx.deps.keys.product(drop.id);
    await ctx.deps.redis.del(k.product, k.live, k.held, k.queued, k.waiting, k.holds);
    const queueKeys = await queueKeysOf(reserveQueueName(drop.id));
    if (queueKeys.length) await ctx.deps.redis.del(...queueKeys);

    const final = await pollUntilTerminal(ctx, answers.map((a) => ({ ticketId: a.ticketId!, token: a.token })), 60_000);
    expect(final.size).toBe(30);
    const statuses = answers.map((a) => final.get(a.ticketId!).status);
    // Exactly the stock is sold. (Order is kept among the tickets queued again; a job that
    // was running when the state went may still serve its own tickets first.)
    expect(statuses.filter((x) => x === 'paid')).toHaveLength(STOCK);
    expect(statuses.filter((x) => x !== 'paid' && x !== 'sold_out')).toEqual([]);
    const s = await stats(ctx, drop.id);
    expect(s.stock).toEqual({ total: STOCK, available: 0, reserved: 0, sold: STOCK });
    expect((await ledger(ctx, drop.id)).paidOrders).toBe(STOCK);
    await expectAuditOk(ctx, drop.id);
  });

  it('lets workers started after the product registry was lost find every drop from MySQL', async () => {
    await ctx.stopWorkers();
    const drop = await createDrop(ctx, 5);
    try {
      const answers = await buyAll(ctx, drop.id, Array.from({ length: 5 }, (_, i) => ({ userId: `unlisted-${i}` })));
      expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
      // The registry is one key on one shard: that shard forgot it, the drop's own did not.
      await ctx.deps.redis.del(ctx.deps.keys.products());
    } finally {
      await ctx.startWorkers();
    }
    await eventually('its tickets sold', async () => (await stats(ctx, drop.id)).tickets.paid === 5, 30_000);
    expect(await ctx.deps.productState.registered()).toContain(drop.id);
    await expectAuditOk(ctx, drop.id);
  });

  it('reports drift between Redis and MySQL', async () => {
    const drop = await createDrop(ctx, 3);
    const ok = await ctx.http('GET', '/admin/reconcile', { admin: true });
    expect(ok.status).toBe(200);
    expect(ok.body.products.find((p: { productId: number }) => p.productId === drop.id).drift).toEqual([]);
    await ctx.deps.redis.hincrby(`${ctx.config.KEY_PREFIX}:{p:${drop.id}}:product`, 'sold', 1);
    const bad = await ctx.http('GET', '/admin/reconcile', { admin: true });
    expect(bad.body.ok).toBe(false);
    const fields = bad.body.products.find((p: { productId: number }) => p.productId === drop.id).drift.map((d: { field: string }) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['sold', 'available']));
    expect((await ctx.http('GET', '/admin/reconcile')).status).toBe(401);
  });
});
