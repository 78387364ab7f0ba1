import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { REDIS_URL, createDrop, createTestContext, keysMatching, pollUntilTerminal, TERMINAL, type TestContext } from '../setup/context.ts';
import { spawnService, stopChild } from '../setup/processes.ts';
import { buyAll, eventually, expectAuditOk, ledger, providerLedger, stats, type Bought } from '../setup/buyers.ts';
import { freePort, startClusterOnFreePorts, type LocalCluster } from '../../scripts/redis-cluster.ts';
import { masters } from '../../shared/redis/client.ts';

/**
 * A Redis Cluster of three masters of this file's own (so one can be flushed without
 * touching the other suites), MySQL as always. The card network's ledger lives on the
 * machine's Redis, as a real provider's lives elsewhere.
 */
describe('on a Redis Cluster of three masters', () => {
  let cluster: LocalCluster;
  let ctx: TestContext;
  beforeAll(async () => {
    cluster = await startClusterOnFreePorts(3);
    ctx = await createTestContext('shards', {
      REDIS_CLUSTER_NODES: cluster.nodes.join(','), PAYMENT_SIM_REDIS_URL: REDIS_URL,
      PAYMENT_HOLD_MS: '4000', RECONCILE_INTERVAL_MS: '500', PAYMENT_LATENCY_MS: '20',
    }, { role: 'producer' });
  });
  afterAll(async () => {
    await ctx?.close();
    await cluster?.stop();
  });

  /** The port of the master holding every key of a drop; fails if they are not all on one. */
  const shardOf = async (productId: number): Promise<number> => {
    const holders = new Set<number>();
    for (const node of masters(ctx.deps.redis)) {
      const mine = await keysMatching(node, `${ctx.config.KEY_PREFIX}:{p:${productId}}:*`);
      if (mine.length) holders.add(node.options.port!);
    }
    expect(holders.size).toBe(1);
    return [...holders][0];
  };
  const drops: { id: number; shard: number }[] = [];

  it('places drops on the least-loaded master, each drop with its stock, tickets and both queues on one', async () => {
    for (let i = 0; i < 6; i++) {
      const drop = await createDrop(ctx, 30);
      drops.push({ id: drop.id, shard: 0 });
    }
    await ctx.startWorkers();
    // One sale per drop puts keys in its queues (admission, payment) and a ticket.
    for (const drop of drops) {
      const [bought] = await buyAll(ctx, drop.id, [{ userId: `first-${drop.id}` }]);
      expect((await pollUntilTerminal(ctx, [{ ticketId: bought.ticketId!, token: bought.token }])).get(bought.ticketId!)?.status).toBe('paid');
      const keys = await keysMatching(ctx.deps.redis, `${ctx.config.KEY_PREFIX}:{p:${drop.id}}:*`);
      for (const part of [`reserve-${drop.id}:`, `payment-${drop.id}:`, ':product', ':t:']) {
        expect(keys.some((k) => k.includes(part))).toBe(true);
      }
      drop.shard = await shardOf(drop.id);
    }
    // Placed on the least-loaded master as they were created: two on each.
    const perShard = cluster.ports.map((port) => drops.filter((d) => d.shard === port).length);
    expect(perShard).toEqual([2, 2, 2]);
    await ctx.stopWorkers();
  });

  it('sells every unit exactly once through two API processes and two worker processes, with no drift', async () => {
    const children: ChildProcess[] = [];
    const start = (script: string, env: Record<string, string>) => children.push(spawnService(ctx, script, env));
    const ports = [await freePort(), await freePort()];
    for (const port of ports) start('api/main.ts', { PORT: String(port) });
    start('workers/main.ts', {});
    start('workers/main.ts', {});
    try {
      for (const port of ports) {
        await eventually(`API on ${port} ready`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200, 30_000);
      }
      // 29 units left in each of three drops (one per master), 120 buyers each, sent to either API.
      const rush = drops.slice(0, 3);
      const bought = await Promise.all(rush.map(async (drop) => {
        const buyers = Array.from({ length: 120 }, (_, i) => `rush-${drop.id}-${i}`);
        return Promise.all(buyers.map(async (userId, i) => {
          const token = await ctx.token(userId);
          const res = await fetch(`http://127.0.0.1:${ports[i % 2]}/products/${drop.id}/purchases`, {
            method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"quantity":1}',
          });
          const body = await res.json() as { ticketId?: string };
          return { userId, token, status: res.status, ticketId: body.ticketId, body };
        }));
      }));
      for (const [i, answers] of bought.entries()) {
        expect(answers.filter((a) => a.status !== 202 && a.status !== 409)).toEqual([]);
        const final = await pollUntilTerminal(ctx, answers.filter((a) => a.ticketId).map((a) => ({ ticketId: a.ticketId!, token: a.token })), 90_000);
        expect([...final.values()].filter((t) => t.status === 'paid')).toHaveLength(29);
        const drop = rush[i];
        expect((await stats(ctx, drop.id)).stock).toEqual({ total: 30, available: 0, reserved: 0, sold: 30 });
        expect(await ledger(ctx, drop.id)).toMatchObject({ paidUnits: 30, paidOrders: 30, pendingOrders: 0 });
      }
      const recon = (await ctx.http('GET', '/admin/reconcile', { admin: true })).body;
      for (const drop of rush) expect(recon.products.find((p: { productId: number }) => p.productId === drop.id).drift).toEqual([]);
      expect(recon.clock.nodes).toHaveLength(3);
      expect(recon.clock.maxSkewMs).toBeGreaterThanOrEqual(0);
    } finally {
      await Promise.all(children.map((c) => stopChild(c)));
    }
  });

  it("survives one master flushed mid-drop: its drop is rebuilt from MySQL and its log, no ticket is lost, the others' drops do not notice", async () => {
    await ctx.startWorkers();
    const STOCK = 60;
    // One fresh drop on each master.
    const fresh: { id: number; shard: number }[] = [];
    while (new Set(fresh.map((d) => d.shard)).size < 3) {
      const drop = await createDrop(ctx, STOCK);
      await ctx.http('PUT', `/admin/products/${drop.id}/rate`, { admin: true, body: { perSecond: 40 } });
      const shard = await shardOf(drop.id);
      if (!fresh.some((d) => d.shard === shard)) fresh.push({ id: drop.id, shard });
    }
    const [wiped, ...others] = fresh;
    const methods = ['pm_card_ok', 'pm_card_ok', 'pm_card_flaky', 'pm_card_declined', 'pm_card_ok', 'pm_card_slow'];
    const wave = (drop: { id: number }, tag: string, n: number) =>
      buyAll(ctx, drop.id, Array.from({ length: n }, (_, i) => ({ userId: `${tag}-${drop.id}-${i}`, paymentMethod: methods[i % 6] })));
    const first = await Promise.all(fresh.map((d) => wave(d, 'w1', 300)));
    for (const answers of first) expect(answers.filter((a) => a.status !== 202)).toEqual([]);
    await eventually('15 paid on the drop to be wiped', async () => (await stats(ctx, wiped.id)).tickets.paid >= 15, 60_000);

    const node = new Redis(wiped.shard, '127.0.0.1');
    await node.flushall();
    await node.quit();

    // The other drops go on as if nothing happened; the wiped one is rebuilt at the next purchase.
    const second = await Promise.all(fresh.map((d) => wave(d, 'w2', 100)));
    for (const answers of second) expect(answers.filter((a) => a.status !== 202 && a.status !== 409)).toEqual([]);

    for (const [i, drop] of fresh.entries()) {
      const all = [...first[i], ...second[i]];
      await pollUntilTerminal(ctx, second[i].filter((a) => a.ticketId).map((a) => ({ ticketId: a.ticketId!, token: a.token })), 120_000);
      await eventually(`drop ${drop.id}: no pending order and no live ticket`, async () => {
        const s = await stats(ctx, drop.id);
        return (await ledger(ctx, drop.id)).pendingOrders === 0 && s.tickets.queued === 0 && s.tickets.reserved === 0;
      }, 90_000);
      expect((await stats(ctx, drop.id)).stock).toEqual({ total: STOCK, available: 0, reserved: 0, sold: STOCK });
      expect(await ledger(ctx, drop.id)).toMatchObject({ paidUnits: STOCK, paidOrders: STOCK, pendingOrders: 0 });
      await expectEveryOrderTerminal(drop.id, all);
      {
        // Not one ticket was forgotten, the wiped drop's included (its log had drained every
        // admission to MySQL long before the flush): every 202 reads terminal.
        const final = await pollUntilTerminal(ctx, all.filter((a) => a.ticketId).map((a) => ({ ticketId: a.ticketId!, token: a.token })), 60_000);
        expect([...final.values()].filter((t) => !TERMINAL.has(t.status))).toEqual([]);
        expect(final.size).toBe(all.filter((a) => a.ticketId).length);
      }
    }

    await eventually('payments reconciled', async () =>
      (await ctx.http('GET', '/admin/reconcile', { admin: true })).body.payments.endedNotYetChecked === 0, 60_000);
    const sim = await providerLedger(ctx);
    const orders: { ticket_id: string; status: string }[] = await ctx.deps.orm.em.getConnection()
      .execute('select ticket_id, status from orders where product_id in (?, ?, ?)', fresh.map((d) => d.id));
    const paid = new Set(orders.filter((o) => o.status === 'paid').map((o) => o.ticket_id));
    const net = (t: string) => (t in sim.charges ? 1 : 0) - (t in sim.refunds ? 1 : 0);
    const everyTicket = [...first.flat(), ...second.flat()].filter((a) => a.ticketId).map((a) => a.ticketId!);
    expect(everyTicket.filter((t) => net(t) !== (paid.has(t) ? 1 : 0))).toEqual([]);

    const recon = (await ctx.http('GET', '/admin/reconcile', { admin: true })).body;
    for (const drop of fresh) expect(recon.products.find((p: { productId: number }) => p.productId === drop.id).drift).toEqual([]);
    expect(recon.losses.map((l: { productId: number }) => l.productId)).toContain(wiped.id);
    for (const drop of others) expect(recon.losses.map((l: { productId: number }) => l.productId)).not.toContain(drop.id);
    expect(recon.losses.find((l: { productId: number }) => l.productId === wiped.id).queuedTicketsLost).toBe(0);
    expect(recon.payments.paidWithoutCharge).toEqual([]);
    for (const drop of fresh) await expectAuditOk(ctx, drop.id);
  });

  it('answers 503 with Retry-After, never a 500, while a master is gone, and is not ready', async () => {
    // Drops the rush above left with units (it sold out the first three).
    const [onDead, ...rest] = drops.slice(3);
    const elsewhere = rest.find((d) => d.shard !== onDead.shard)!;
    const [held] = await buyAll(ctx, onDead.id, [{ userId: 'before-the-fall' }]);
    await cluster.kill(onDead.shard);
    try {
      const token = await ctx.token('after-the-fall');
      const calls: [string, string, { token?: string; admin?: boolean; body?: unknown }][] = [
        ['POST', `/products/${onDead.id}/purchases`, { token, body: { quantity: 1 } }],
        ['POST', `/products/${elsewhere.id}/purchases`, { token, body: { quantity: 1 } }],
        ['GET', `/tickets/${held.ticketId}`, { token: held.token }],
        ['GET', `/products/${onDead.id}`, {}],
        ['GET', `/admin/products/${onDead.id}/stats`, { admin: true }],
        ['POST', `/admin/products/${onDead.id}/pause`, { admin: true }],
        ['GET', '/admin/reconcile', { admin: true }],
        ['GET', '/metrics', {}],
      ];
      // Before and after the cluster notices (cluster-node-timeout 2 s), every answer is either
      // served or a 503 with Retry-After.
      for (const round of [0, 1]) {
        if (round) await new Promise((r) => setTimeout(r, 3000));
        for (const [method, path, opts] of calls) {
          const res = await ctx.http(method, path, opts);
          expect({ path, round, fiveHundred: res.status >= 500 && res.status !== 503 }).toEqual({ path, round, fiveHundred: false });
          if (res.status === 503) expect({ path, retryAfter: res.headers.get('retry-after') !== null }).toEqual({ path, retryAfter: true });
        }
        const dead = await ctx.http('POST', `/products/${onDead.id}/purchases`, { token, body: { quantity: 1 } });
        expect(dead.status).toBe(503);
        expect((await ctx.http('GET', '/readyz')).status).toBe(503);
      }
    } finally {
      // The master comes back empty: ready again, and its drop is rebuilt from MySQL at the next purchase.
      await cluster.restart(onDead.shard);
    }
    await eventually('ready again', async () => (await ctx.http('GET', '/readyz')).status === 200, 30_000);
    // The operator's pause above answered 503 but may have reached the ledger (written before
    // Redis), so the rebuilt drop may be paused: as its operator would, resume it.
    await eventually('resumed', async () => (await ctx.http('POST', `/admin/products/${onDead.id}/resume`, { admin: true })).status === 200, 30_000);
    let last: unknown;
    await eventually('its drop sells again', async () => {
      const res = await ctx.http('POST', `/products/${onDead.id}/purchases`, { token: await ctx.token(`back-${Date.now()}`), body: { quantity: 1 } });
      last = [res.status, res.body];
      return res.status === 202;
    }, 30_000).catch((err: Error) => { throw new Error(`${err.message}; last answer ${JSON.stringify(last)}`); });
  });

  /** Every ticket the ledger has an order for is terminal, read by its owner. */
  async function expectEveryOrderTerminal(productId: number, answers: Bought[]) {
    const owners = new Map(answers.map((a) => [a.userId, a]));
    const orders: { ticket_id: string; user_id: string }[] = await ctx.deps.orm.em.getConnection()
      .execute('select ticket_id, user_id from orders where product_id = ?', [productId]);
    for (const o of orders) {
      const res = await ctx.http('GET', `/tickets/${o.ticket_id}`, { token: owners.get(o.user_id)!.token });
      expect({ ticket: o.ticket_id, status: res.status, terminal: TERMINAL.has(res.body.status) }).toEqual({ ticket: o.ticket_id, status: 200, terminal: true });
    }
  }
});
