import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { isCluster, whenReady } from '../../shared/redis/client.ts';
import { ON_CLUSTER, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { expectError } from '../setup/drop-helpers.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('connections', {}, { role: 'producer' });
  await ctx.startWorkers();
});
afterAll(async () => {
  await ctx.close();
});

describe("the API's Redis connections, as api/main.ts makes them", () => {
  it('keeps BullMQ on a connection of its own, nothing auto-pipelined, and still sells through its queues', async () => {
    const { redis, queueRedis, queues } = ctx.deps;
    // The cluster pass of `npm test` really runs on the cluster.
    for (const client of [redis, queueRedis]) expect(isCluster(client)).toBe(ON_CLUSTER);
    expect(queueRedis).not.toBe(redis);
    // Auto-pipelining cost the door a fifth of its throughput (bench/README.md).
    for (const client of [redis, queueRedis]) expect(client.options.enableAutoPipelining).toBeFalsy();
    for (const client of [redis, queueRedis]) expect(client.options.enableOfflineQueue).toBe(false);

    const created = await ctx.http('POST', '/admin/products', {
      admin: true, body: { name: 'Socks', price: 5, type: 'general', opensAt: null, stock: 10, perUserLimit: 0 },
    });
    const token = await ctx.token('ann');
    const bought = await ctx.http('POST', `/products/${created.body.id}/purchases`, { token, body: { quantity: 1 } });
    expect(bought.status).toBe(202);
    const final = await pollUntilTerminal(ctx, [{ ticketId: bought.body.ticketId, token }], 30_000);
    expect(final.get(bought.body.ticketId)?.status).toBe('paid');

    // Every queue the API used (the admission job's among them) is on the second connection,
    // and the main one carries only the project's own scripts.
    expect(queues.all().length).toBeGreaterThan(0);
    for (const queue of queues.all()) expect((queue as Queue).opts.connection).toBe(queueRedis);
    const scripts = Object.keys((redis as unknown as { scriptsSet: Record<string, unknown> }).scriptsSet);
    expect(scripts.length).toBeGreaterThan(0);
    expect(scripts.filter((name) => !name.startsWith('drop_'))).toEqual([]);
  });

  it('is not ready while the queues connection is down', async () => {
    expect((await ctx.http('GET', '/readyz')).status).toBe(200);
    ctx.deps.queueRedis.disconnect();
    try {
      const down = await ctx.http('GET', '/readyz');
      expectError(down, 503, 'unavailable');
      expect(down.body.error.checks).toEqual({ redis: false, mysql: true, lane: true });
    } finally {
      void ctx.deps.queueRedis.connect().catch(() => {});
      await whenReady(ctx.deps.queueRedis);
    }
    expect((await ctx.http('GET', '/readyz')).status).toBe(200);
  });
});
