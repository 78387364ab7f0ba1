import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, type TestContext } from '../setup/context.ts';
import { eventually } from '../setup/buyers.ts';
import { TcpProxy } from '../setup/tcp-proxy.ts';

/**
 * A wedged process must look unhealthy: here Redis stops answering (a proxy that holds
 * every byte) while drop requests hold the lane, so no request finishes in it.
 */
const proxy = new TcpProxy({ host: '127.0.0.1', port: 6379 });
let ctx: TestContext;
beforeAll(async () => {
  const port = await proxy.start();
  ctx = await createTestContext('readiness', {
    REDIS_URL: `redis://127.0.0.1:${port}`,
    API_DROP_CONCURRENCY: '2',
    API_LANE_HOLD_MS: '1500',
    REDIS_COMMAND_TIMEOUT_MS: '30000',
  }, { role: 'producer' });
});
afterAll(async () => {
  proxy.flow();
  await ctx.close();
  await proxy.stop();
});

describe('GET /readyz', () => {
  it('answers 503 while the drop lane holds work and nothing finishes in it, and 200 once it moves again', async () => {
    const drop = await createDrop(ctx, 100);
    expect((await ctx.http('GET', '/readyz')).body.checks).toEqual({ redis: true, mysql: true, lane: true });
    const tokens = await Promise.all([0, 1, 2, 3].map((i) => ctx.token(`stuck-${i}`)));
    proxy.hang();
    const stuck = tokens.map((token) => ctx.http('POST', `/products/${drop.id}/purchases`, { token }));
    await eventually('readiness reports the stuck lane', async () => {
      const res = await ctx.http('GET', '/readyz');
      return res.status === 503 && res.body.error.code === 'unavailable' && res.body.error.checks.lane === false
        && res.body.error.lane.stalledForMs >= 1500;
    }, 15_000);
    proxy.flow();
    // Held past API_LANE_HOLD_MS, the places were given back, but every request still gets its answer.
    expect((await Promise.all(stuck)).map((r) => r.status)).toEqual([202, 202, 202, 202]);
    await eventually('ready again', async () => (await ctx.http('GET', '/readyz')).status === 200, 15_000);
  });
});
