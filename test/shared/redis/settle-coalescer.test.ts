import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SettleCoalescer } from '../../../shared/domain/payment/settle-coalescer.ts';
import { Scripts, type FreedUnits } from '../../../shared/redis/scripts.ts';
import { createDrop, createTestContext, type TestContext } from '../../setup/context.ts';
import { expectConsistent, productScripts } from '../../setup/drop-helpers.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('settle-coalescer');
});
afterAll(async () => {
  await ctx.close();
});

/** The real scripts on the real Redis, recording each settle call's product and tickets. */
class RecordingScripts extends Scripts {
  calls: { productId: number; tickets: string[] }[] = [];
  override settleMany(productId: number, ticketIds: readonly string[], batch?: number): Promise<FreedUnits[]> {
    this.calls.push({ productId, tickets: [...ticketIds] });
    return super.settleMany(productId, ticketIds, batch);
  }
}

/** A drop of `stock` units with `buyers` tickets reserved. */
const reservedDrop = async (stock: number, buyers: number) => {
  const s = productScripts(ctx, (await createDrop(ctx, stock)).id);
  const tickets = [];
  for (let i = 0; i < buyers; i++) {
    const t = await s.admitted(`u${i}`);
    expect(await s.reserve(t)).toBe('reserved');
    tickets.push(t);
  }
  return { s, tickets };
};

describe('SettleCoalescer', () => {
  it("settles one turn's charges per product in one call, at most max per call, each answered for its own ticket", async () => {
    const scripts = new RecordingScripts(ctx.deps.redis, ctx.deps.keys, { holdMs: ctx.config.PAYMENT_HOLD_MS, ticketTtlS: ctx.config.TICKET_TTL_S });
    const settler = new SettleCoalescer(scripts, 3);
    const a = await reservedDrop(10, 5);
    const b = await reservedDrop(10, 2);
    const asked = [...a.tickets.map((t) => [a.s.productId, t] as const), ...b.tickets.map((t) => [b.s.productId, t] as const), [a.s.productId, '1-AAAAAAAAAAAAAAAA'] as const];
    const answers = await Promise.all(asked.map(([productId, t]) => settler.settle(productId, t)));
    expect(answers.map((x) => x.outcome)).toEqual(['paid', 'paid', 'paid', 'paid', 'paid', 'paid', 'paid', 'missing']);
    expect(scripts.calls).toEqual([
      { productId: a.s.productId, tickets: a.tickets.slice(0, 3) },
      { productId: a.s.productId, tickets: [...a.tickets.slice(3), '1-AAAAAAAAAAAAAAAA'] },
      { productId: b.s.productId, tickets: b.tickets },
    ]);
    expect(await expectConsistent(a.s)).toMatchObject({ sold: 5, reserved: 0, t_paid: 5 });
    expect(await expectConsistent(b.s)).toMatchObject({ sold: 2, reserved: 0, t_paid: 2 });
  });
});
