import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, type TestContext } from '../../setup/context.ts';
import { expectConsistent, expectOutcome, productScripts, scriptConnections } from '../../setup/drop-helpers.ts';
import type { AdmitResult } from '../../../shared/redis/scripts.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('lua-admit');
});
afterAll(async () => {
  await ctx.close();
});

type Created = Extract<AdmitResult, { outcome: 'created' }>;

/** The reply of an admit the test expects to create a ticket. */
async function created(reply: Promise<AdmitResult>): Promise<Created> {
  const r = await reply;
  expectOutcome(r, 'created');
  return r;
}

const drop = async (stock: number, extra: Record<string, unknown> = {}) => productScripts(ctx, (await createDrop(ctx, stock, extra)).id);

describe('admit.lua', () => {
  it('creates a queued ticket with its position and counts it', async () => {
    const s = await drop(5);
    const first = await s.admit('ann');
    const second = await s.admit('bob', { quantity: 1, paymentMethod: 'pm_card_declined' });
    const created = { outcome: 'created', ticketId: expect.any(String), ratePerSecond: ctx.config.ADMISSION_RATE_PER_SEC, measuredPerSecond: 0,
      drawAtMs: null, preQueued: 0, nowMs: expect.any(Number) };
    expect(first).toEqual({ ...created, position: 0 });
    expect(second).toEqual({ ...created, position: 1 });
    expectOutcome(first, 'created');
    expectOutcome(second, 'created');
    expect(await s.ticket(second.ticketId)).toMatchObject({ user: 'bob', qty: '1', pm: 'pm_card_declined', status: 'queued', seq: '2' });
    expect(await s.queued()).toEqual([first.ticketId, second.ticketId]);
    const st = await expectConsistent(s);
    expect(st).toMatchObject({ t_queued: 2, available: 5, reserved: 0, seq: 2 });
  });

  it('answers existing with the same ticket for the same Idempotency-Key, and changes nothing', async () => {
    const s = await drop(5);
    const { ticketId: id } = await created(s.admit('ann', { idempotencyKey: 'k-1' }));
    const before = await s.state();
    expect(await s.admit('ann', { idempotencyKey: 'k-1' })).toEqual({ outcome: 'existing', ticketId: id });
    expect(await s.admit('ann', { idempotencyKey: 'k-1', quantity: 1 })).toEqual({ outcome: 'existing', ticketId: id });
    expect(await s.state()).toEqual(before);
  });

  it('keeps answering existing for the same Idempotency-Key after the ticket ended', async () => {
    const s = await drop(1);
    const { ticketId: id } = await created(s.admit('ann', { idempotencyKey: 'k-end' }));
    await s.reserve(id);
    await s.settle(id);
    expect(await s.admit('ann', { idempotencyKey: 'k-end' })).toEqual({ outcome: 'existing', ticketId: id });
  });

  it('answers existing while the user has a live ticket, whatever the key, and binds a new key to it', async () => {
    const s = await drop(5);
    const { ticketId: id } = await created(s.admit('ann'));
    expect(await s.admit('ann')).toEqual({ outcome: 'existing', ticketId: id });
    expect(await s.admit('ann', { idempotencyKey: 'later' })).toEqual({ outcome: 'existing', ticketId: id });
    expect(await s.admit('ann', { idempotencyKey: 'later' })).toEqual({ outcome: 'existing', ticketId: id });
    expect((await s.state()).t_queued).toBe(1);
  });

  it('answers not_loaded for a product whose state is not in Redis', async () => {
    const s = productScripts(ctx, 987_654);
    expect(await s.admit('ann')).toEqual({ outcome: 'not_loaded' });
    expect(await ctx.deps.redis.exists(s.keys.product)).toBe(0);
  });

  it('answers not_open with opensAt and the Redis clock before the product opens', async () => {
    const opensAt = Date.now() + 60_000;
    const s = await drop(5, { opensAt: new Date(opensAt).toISOString() });
    const reply = await s.admit('ann');
    expectOutcome(reply, 'not_open');
    expect(reply.opensAtMs).toBe(opensAt);
    expect(Math.abs(reply.nowMs - Date.now())).toBeLessThan(5_000);
    expect(await s.state()).toMatchObject({ seq: 0, t_queued: 0 });
  });

  it('admits from the opening instant on, by the Redis clock', async () => {
    const s = await drop(5, { opensAt: new Date(Date.now() + 60_000).toISOString() });
    const closed = await s.admit('ann');
    expectOutcome(closed, 'not_open');
    expect((await s.update({ opensAtMs: closed.nowMs })).outcome).toBe('ok');
    expect((await s.admit('ann')).outcome).toBe('created');
  });

  it('answers paused while the product is paused, then admits again after resume', async () => {
    const s = await drop(5);
    await ctx.deps.redis.hset(s.keys.product, 'paused', 1);
    expect(await s.admit('ann')).toEqual({ outcome: 'paused' });
    await ctx.deps.redis.hset(s.keys.product, 'paused', 0);
    expect((await s.admit('ann')).outcome).toBe('created');
  });

  it('answers sold_out only when nothing is available and nothing is held', async () => {
    const s = await drop(1);
    const a = await s.admitted('ann');
    await s.reserve(a);
    expect((await s.admit('bob')).outcome).toBe('created');
    await s.settle(a);
    expect(await s.admit('cat')).toEqual({ outcome: 'sold_out' });
    expect(await s.admit('dan', { quantity: 1 })).toEqual({ outcome: 'sold_out' });
  });

  it('answers sold_out for a quantity larger than can ever come back', async () => {
    const s = await drop(2, { perUserLimit: 5 });
    expect(await s.admit('ann', { quantity: 3 })).toEqual({ outcome: 'sold_out' });
    expect((await s.admit('ann', { quantity: 2 })).outcome).toBe('created');
  });

  it('answers over_limit with the limit and what the user holds', async () => {
    const s = await drop(10, { perUserLimit: 2 });
    expect(await s.admit('ann', { quantity: 3 })).toEqual({ outcome: 'over_limit', limit: 2, held: 0 });
    const a = await s.admitted('ann', { quantity: 1 });
    await s.reserve(a);
    await s.settle(a);
    expect(await s.admit('ann', { quantity: 2 })).toEqual({ outcome: 'over_limit', limit: 2, held: 1 });
    expect((await s.admit('ann', { quantity: 1 })).outcome).toBe('created');
    expect(await expectConsistent(s)).toMatchObject({ t_paid: 1, t_queued: 1 });
  });

  it('treats a per-user limit of 0 as no limit', async () => {
    const s = await drop(100, { perUserLimit: 0 });
    expect((await s.admit('ann', { quantity: 50 })).outcome).toBe('created');
  });

  it('answers busy once the queue holds the maximum number of tickets', async () => {
    const s = await drop(10);
    expect((await s.admit('ann', { maxQueued: 2 })).outcome).toBe('created');
    expect((await s.admit('bob', { maxQueued: 2 })).outcome).toBe('created');
    expect(await s.admit('cat', { maxQueued: 2 })).toEqual({ outcome: 'busy' });
    expect(await s.admit('ann', { maxQueued: 2 })).toEqual({ outcome: 'existing', ticketId: expect.any(String) });
  });

  it('answers rate_limited with the milliseconds until the window ends', async () => {
    const s = await drop(10, { perUserLimit: 1 });
    expect((await s.admit('ann', { quantity: 5, ratePerSec: 2 })).outcome).toBe('over_limit');
    expect((await s.admit('ann', { quantity: 5, ratePerSec: 2 })).outcome).toBe('over_limit');
    const limited = await s.admit('ann', { ratePerSec: 2 });
    expectOutcome(limited, 'rate_limited');
    const retryMs = limited.retryAfterMs;
    expect(retryMs).toBeGreaterThanOrEqual(1);
    expect(retryMs).toBeLessThanOrEqual(1000);
    expect((await s.admit('bob', { ratePerSec: 2 })).outcome).toBe('created');
    await new Promise((r) => setTimeout(r, retryMs + 20));
    expect((await s.admit('ann', { ratePerSec: 2 })).outcome).toBe('created');
  });

  it('creates one ticket per user however many requests race, on separate connections', async () => {
    const s = await drop(1000);
    const conns = scriptConnections(ctx, 4);
    try {
      const users = Array.from({ length: 250 }, (_, i) => `racer-${i}`);
      const calls = users.flatMap((u) => [0, 1, 2, 3].map((n) => ({ u, n })));
      const replies = await Promise.all(
        calls.map(({ u, n }, i) =>
          productScripts(ctx, s.productId, conns.scripts[i % 4])
            .admit(u, { idempotencyKey: n % 2 ? `k-${u}` : undefined }).then((r) => ({ u, r })),
        ),
      );
      const won = replies.filter((x): x is { u: string; r: Created } => x.r.outcome === 'created');
      expect(won).toHaveLength(250);
      expect(new Set(won.map(({ u }) => u)).size).toBe(250);
      const ticketOf = new Map(won.map(({ u, r }) => [u, r.ticketId]));
      for (const { u, r } of replies) expect(r).toMatchObject({ ticketId: ticketOf.get(u) });
      expect(await expectConsistent(s)).toMatchObject({ t_queued: 250, seq: 250 });
      const positions = won.map(({ r }) => r.position ?? -1).sort((a, b) => a - b);
      expect(positions).toEqual(Array.from({ length: 250 }, (_, i) => i));
    } finally {
      await conns.close();
    }
  });
});

describe('admit.lua, several requests in one call (as the door coalesces them)', () => {
  /** A small deterministic PRNG, so a failure replays. */
  const prng = (seed: number) => () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
  const withoutHash = (events: string[][]) => events.map((f) => f.filter((_, i) => f[i - 1] !== 'h' && f[i] !== 'h'));
  const REFUSALS = ['r_sold_out', 'r_over_limit', 'r_busy', 'r_rate_limited', 'r_paused', 'r_not_open'];

  it('decides each request as the same requests one call each would, over random mixes of buyers, keys, quantities and stock', async () => {
    const seen = new Set<string>();
    for (const seed of [1, 2, 3]) {
      const rand = prng(seed);
      const pick = <T,>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
      const [alone, together] = [await drop(12, { perUserLimit: 2 }), await drop(12, { perUserLimit: 2 })];
      const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
      for (let step = 0; step < 25; step++) {
        const batch = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => {
          const userId = pick(users);
          const idempotencyKey = rand() < 0.3 ? `k-${userId}-${Math.floor(rand() * 2)}` : undefined;
          return { userId, o: { ticketId: `t-${seed}-${step}-${Math.floor(rand() * 1e9)}`, quantity: pick([1, 1, 1, 2, 3]), idempotencyKey, maxQueued: 15 } };
        });
        const one: AdmitResult[] = [];
        for (const { userId, o } of batch) one.push(await alone.admit(userId, o));
        const many = await together.admitMany(batch);
        const comparable = (r: AdmitResult) => (r.outcome === 'created' ? { ...r, nowMs: 0 } : r);
        expect(many.map(comparable)).toEqual(one.map(comparable));
        for (const r of one) seen.add(r.outcome);
        // Between calls the stock worker and the payments move on, the same on both drops.
        for (let n = Math.floor(rand() * 3); n > 0; n--) {
          const pays = rand() < 0.8;
          for (const s of [alone, together]) {
            const [head] = await s.queued();
            if (head && (await s.reserve(head)) === 'reserved') await (pays ? s.settle(head) : s.release(head));
          }
        }
      }
      const [a, b] = [await expectConsistent(alone), await expectConsistent(together)];
      for (const f of ['seq', 't_queued', 't_reserved', 't_paid', 't_expired', 'available', 'sold', ...REFUSALS]) expect([f, b[f]]).toEqual([f, a[f]]);
      // After the `loaded` event (each drop's own opening instant), the same decisions.
      expect(withoutHash((await together.log()).slice(1))).toEqual(withoutHash((await alone.log()).slice(1)));
    }
    // The mixes reach every answer a request can get on an open drop with rates unlimited.
    expect([...seen].sort()).toEqual(['busy', 'created', 'existing', 'over_limit', 'sold_out']);
  });

  it('sees earlier requests of the same call: one ticket per buyer, the key bound, the counters and the rate taken in order', async () => {
    const s = await drop(3, { perUserLimit: 1 });
    // The call's settings are its first request's; the door's are the same for every request.
    const o = { ratePerSec: 3, maxQueued: 2 };
    const r = await s.admitMany([
      { userId: 'ann', o: { ...o, idempotencyKey: 'k1' } },
      { userId: 'ann', o: { ...o, idempotencyKey: 'k2' } },
      ...[1, 2, 3, 4].map(() => ({ userId: 'bob', o: { ...o, quantity: 2 } })),
      { userId: 'cat', o },
      { userId: 'dan', o },
    ]);
    expect(r.map((x) => x.outcome)).toEqual(['created', 'existing', 'over_limit', 'over_limit', 'over_limit', 'rate_limited', 'created', 'busy']);
    expectOutcome(r[0], 'created');
    expect(r[1]).toEqual({ outcome: 'existing', ticketId: r[0].ticketId });
    expect(await s.admit('ann', { idempotencyKey: 'k2' })).toEqual({ outcome: 'existing', ticketId: r[0].ticketId });
    expectOutcome(r[6], 'created');
    expect([r[0].position, r[6].position]).toEqual([0, 1]);
    expect(await expectConsistent(s)).toMatchObject({ seq: 2, t_queued: 2, r_over_limit: 3, r_rate_limited: 1, r_busy: 1 });
    expect((await s.log()).filter((f) => f[1] === 'admitted')).toHaveLength(2);
  });

  it('answers not_loaded for every request of a call for a product Redis lost', async () => {
    const s = await drop(3);
    await ctx.deps.redis.del(s.keys.product);
    expect(await s.admitMany([{ userId: 'ann' }, { userId: 'bob' }])).toEqual([{ outcome: 'not_loaded' }, { outcome: 'not_loaded' }]);
  });
});
