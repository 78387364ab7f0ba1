import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AdmitCoalescer } from '../../../shared/domain/admission/admit-coalescer.ts';
import { Scripts, type AdmitRequest, type AdmitResult } from '../../../shared/redis/scripts.ts';
import { createDrop, createTestContext, type TestContext } from '../../setup/context.ts';
import { productScripts } from '../../setup/drop-helpers.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('admit-coalescer');
});
afterAll(async () => {
  await ctx.close();
});

/** The real scripts on the real Redis, recording each call's products and size; `failFor` makes a product's calls fail. */
class RecordingScripts extends Scripts {
  calls: { productId: number; size: number }[] = [];
  failFor = new Set<number>();
  override admitMany(rs: readonly AdmitRequest[]): Promise<AdmitResult[]> {
    this.calls.push({ productId: rs[0].productId, size: rs.length });
    if (this.failFor.has(rs[0].productId)) return Promise.reject(new Error('Redis went away'));
    return super.admitMany(rs);
  }
}

const setup = async (max: number) => {
  const scripts = new RecordingScripts(ctx.deps.redis, ctx.deps.keys, { holdMs: ctx.config.PAYMENT_HOLD_MS, ticketTtlS: ctx.config.TICKET_TTL_S });
  const [a, b] = [productScripts(ctx, (await createDrop(ctx, 100)).id), productScripts(ctx, (await createDrop(ctx, 100)).id)];
  return { scripts, coalescer: new AdmitCoalescer(scripts, max), a, b };
};

describe('AdmitCoalescer', () => {
  it("sends one turn's purchases per product together, at most max per call, each answered with its own ticket in arrival order", async () => {
    const { scripts, coalescer, a, b } = await setup(4);
    const forA = Array.from({ length: 10 }, (_, i) => a.request(`a${i}`));
    const forB = Array.from({ length: 3 }, (_, i) => b.request(`b${i}`));
    const answers = await Promise.all([...forA, ...forB].map((r) => coalescer.admit(r)));
    expect(scripts.calls).toEqual([
      { productId: a.productId, size: 4 }, { productId: a.productId, size: 4 },
      { productId: a.productId, size: 2 }, { productId: b.productId, size: 3 },
    ]);
    expect(answers.map((r) => r.outcome === 'created' && [r.ticketId, r.position])).toEqual([
      ...forA.map((r, i) => [r.ticketId, i]), ...forB.map((r, i) => [r.ticketId, i]),
    ]);
  });

  it('sends a lone purchase at the end of its own turn, and a later turn in a call of its own', async () => {
    const { scripts, coalescer, a } = await setup(8);
    const first = await coalescer.admit(a.request('ann'));
    const [second, third] = await Promise.all([coalescer.admit(a.request('bob')), new Promise<AdmitResult>((resolve) => {
      setImmediate(() => setImmediate(() => resolve(coalescer.admit(a.request('cat')))));
    })]);
    expect([first, second, third].map((r) => r.outcome)).toEqual(['created', 'created', 'created']);
    expect(scripts.calls.map((c) => c.size)).toEqual([1, 1, 1]);
  });

  it("fails only the purchases of a call that fails, as each would have failed alone", async () => {
    const { scripts, coalescer, a, b } = await setup(8);
    scripts.failFor.add(b.productId);
    const answers = await Promise.allSettled([a.request('ann'), b.request('bob'), b.request('cat'), a.request('dan')].map((r) => coalescer.admit(r)));
    expect(answers.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect(await b.queued()).toEqual([]);
    expect(await a.queued()).toHaveLength(2);
  });
});
