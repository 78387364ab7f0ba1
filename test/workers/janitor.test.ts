import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { drainLog } from '../../shared/domain/audit/drain.ts';
import { Scripts } from '../../shared/redis/scripts.ts';
import type { Product } from '../../shared/db/entities/product.entity.ts';
import { Janitor, repeat } from '../../workers/janitor.ts';
import { createDrop, createTestContext, type TestContext } from '../setup/context.ts';
import { productScripts } from '../setup/drop-helpers.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('janitor');
});
afterAll(async () => {
  await ctx.close();
});

/** The real scripts on the real Redis, recording which products a repair or a drain touched. */
class RecordingScripts extends Scripts {
  swept: number[] = [];
  drained: number[] = [];
  peeked: number[] = [];
  override sweep(productId: number, batch?: number): Promise<number> {
    this.swept.push(productId);
    return super.sweep(productId, batch);
  }
  override drainRead(productId: number, max: number) {
    this.drained.push(productId);
    return super.drainRead(productId, max);
  }
  override peekEach(productIds: number[], overdueAtMs: number) {
    this.peeked.push(...productIds);
    return super.peekEach(productIds, overdueAtMs);
  }
}

const createGeneral = async (ctx: TestContext, name: string) => {
  const res = await ctx.http('POST', '/admin/products', { admin: true, body: { name, price: 10, type: 'general', stock: 100 } });
  expect(res.status).toBe(201);
  return res.body as { id: number };
};

describe('peek.lua', () => {
  it('counts what a repair and a drain of the product would find', async () => {
    const s = productScripts(ctx, (await createDrop(ctx, 1)).id);
    const peek = (at = Date.now()) => ctx.deps.scripts.peek(s.productId, at);
    await drainLog(ctx.deps, s.productId);
    expect(await peek()).toEqual({ queued: 0, overdue: 0, logged: 0, refusals: 0 });

    const first = await s.admitted('p-1');
    await s.admitted('p-2');
    expect(await peek()).toMatchObject({ queued: 2, overdue: 0, refusals: 0 });
    expect((await peek()).logged).toBe((await s.log()).length);

    // A full queue refuses a third buyer at the door, and the refusal is counted.
    expect((await s.admit('p-3', { maxQueued: 2 })).outcome).toBe('busy');
    expect((await peek()).refusals).toBe(1);

    // A reserved ticket holds the unit until its deadline: overdue only once that has passed.
    expect(await s.reserve(first)).toBe('reserved');
    const deadline = Number(await ctx.deps.redis.zscore(s.keys.holds, first));
    expect(await peek(deadline - 1)).toMatchObject({ queued: 1, overdue: 0 });
    expect(await peek(deadline)).toMatchObject({ queued: 1, overdue: 1 });

    await drainLog(ctx.deps, s.productId);
    expect(await peek()).toMatchObject({ logged: 0, refusals: 0 });
  });
});

describe('the janitor', () => {
  it('peeks at every product but repairs and drains only those with something live', async () => {
    // A context of its own: every product registered in it is one of these.
    const ctx = await createTestContext('janitor-round');
    try {
      const idle = [await createGeneral(ctx, 'idle-1'), await createGeneral(ctx, 'idle-2'), await createDrop(ctx, 5)];
      // Loading a product logs it: once drained, nothing of these is live.
      for (const p of idle) await drainLog(ctx.deps, p.id);
      const busy = productScripts(ctx, (await createDrop(ctx, 5)).id);
      await busy.admitted('b-1');

      const scripts = new RecordingScripts(ctx.deps.redis, ctx.deps.keys, { holdMs: ctx.config.PAYMENT_HOLD_MS, ticketTtlS: ctx.config.TICKET_TTL_S });
      const seen: number[] = [];
      const janitor = new Janitor({ ...ctx.deps, scripts }, (p: Product) => seen.push(p.id));
      janitor.start(); // one round at once
      await janitor.stop(); // and the last drain

      const ids = [...idle.map((p) => p.id), busy.productId];
      expect(seen.sort()).toEqual([...ids].sort());
      expect(new Set(scripts.peeked)).toEqual(new Set(ids));
      expect(scripts.swept).toEqual([busy.productId]);
      expect(scripts.drained).toEqual([busy.productId]);
      // The busy drop's log went to MySQL.
      expect((await ctx.deps.events.ofProduct(busy.productId)).map((e) => e.type)).toContain('admitted');
      expect(await busy.log()).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});

describe('repeat', () => {
  it('follows a slow run with one more at once, never overlapping runs or a queue of them', async () => {
    let running = 0;
    let most = 0;
    let runs = 0;
    const errors: Error[] = [];
    const r = repeat(10, async () => {
      runs++;
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 60));
      running--;
      if (runs === 2) throw new Error('second run failed');
    }, (err) => errors.push(err));
    await new Promise((resolve) => setTimeout(resolve, 400));
    r.stop();
    await r.last();
    const after = runs;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(most).toBe(1);
    // Back to back: about 400 / 60 runs, never the 40 turns the timer had.
    expect(runs).toBeGreaterThanOrEqual(5);
    expect(runs).toBeLessThanOrEqual(8);
    expect(runs).toBe(after);
    expect(errors.map((e) => e.message)).toEqual(['second run failed']);
  });
});
