import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';
import { productScripts } from '../setup/drop-helpers.ts';
import { expectAuditOk } from '../setup/buyers.ts';
import { processAdmission } from '../../shared/domain/reservation/reserve.ts';
import { processPayment } from '../../shared/domain/payment/pay.ts';
import { dropPaymentQueueName } from '../../shared/queues/queues.ts';

let ctx: TestContext;
beforeAll(async () => {
  // Slow enough payments that the later tickets are parked before the first one is paid.
  ctx = await createTestContext('e2e-fairness', { PAYMENT_LATENCY_MS: '1000', PAYMENT_HOLD_MS: '30000' });
  await ctx.startWorkers();
});
afterAll(async () => {
  await ctx.close();
});

async function buy(productId: number, user: string, quantity: number) {
  const token = await ctx.token(user);
  const res = await ctx.http('POST', `/products/${productId}/purchases`, { token, body: { quantity } });
  expect(res.status).toBe(202);
  return { ticketId: res.body.ticketId as string, token };
}

describe('units freed in a drop', () => {
  it('go to the next buyer in line when a payment settles, and that buyer is charged and paid', async () => {
    const drop = await createDrop(ctx, 2, { perUserLimit: 2 });
    const ann = await buy(drop.id, 'ann', 1);
    await new Promise((r) => setTimeout(r, 300));
    // One unit left: bob wants two and waits for ann's; cat wants one but queues behind bob.
    const bob = await buy(drop.id, 'bob', 2);
    const cat = await buy(drop.id, 'cat', 1);
    // Once ann pays, bob can never be served; cat takes the unit that is left and pays.
    const final = await pollUntilTerminal(ctx, [ann, bob, cat], 10_000);
    expect([ann, bob, cat].map((t) => final.get(t.ticketId)?.status)).toEqual(['paid', 'sold_out', 'paid']);
    const stats = (await ctx.http('GET', `/admin/products/${drop.id}/stats`, { admin: true })).body;
    expect(stats.stock).toEqual({ total: 2, available: 0, reserved: 0, sold: 2 });
    await expectAuditOk(ctx, drop.id);
  });
});

describe('a payment step retried after its settle handed units on', () => {
  let bare: TestContext;
  beforeAll(async () => {
    bare = await createTestContext('e2e-fairness-retry');
  });
  afterAll(async () => {
    await bare.close();
  });

  it('still gives the promoted ticket its order and payment job', async () => {
    const drop = await createDrop(bare, 2, { perUserLimit: 2 });
    const s = productScripts(bare, drop.id);
    const [ann, bob, cat] = [await s.admitted('ann'), await s.admitted('bob', { quantity: 2 }), await s.admitted('cat')];
    expect(await processAdmission(bare.deps, ann)).toBe('reserved');
    expect(await processAdmission(bare.deps, bob)).toBe('waiting');
    expect(await processAdmission(bare.deps, cat)).toBe('waiting');
    // The first attempt settled in Redis and died before handing cat on.
    expect(await s.settle(ann)).toEqual({ outcome: 'paid', promoted: [cat], remaining: 0 });
    expect(await s.ticket(cat)).not.toHaveProperty('order');
    expect(await processPayment(bare.deps, ann)).toBe('paid');
    expect(await s.ticket(cat)).toMatchObject({ status: 'reserved', order: expect.any(String) });
    expect(await bare.deps.queues.get(dropPaymentQueueName(drop.id)).getJob(`pay-${cat}`)).toBeDefined();
  });
});
