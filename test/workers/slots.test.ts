import { describe, expect, it } from '@jest/globals';
import { Slots } from '../../workers/payment.worker.ts';

describe('the payment worker’s charge slots', () => {
  it('lets at most n through at once and the rest in arrival order, however long the line grows', async () => {
    const slots = new Slots(3);
    const order: number[] = [];
    let inFlight = 0;
    let most = 0;
    const runs = Array.from({ length: 5000 }, async (_, i) => {
      await slots.take();
      order.push(i);
      most = Math.max(most, ++inFlight);
      await Promise.resolve();
      inFlight--;
      slots.give();
    });
    await Promise.all(runs);
    expect(most).toBe(3);
    expect(order).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    // Every slot is free again: three more go through at once, a fourth waits.
    const taken = [slots.take(), slots.take(), slots.take()];
    await Promise.all(taken);
    let fourth = false;
    void slots.take().then(() => { fourth = true; });
    await new Promise((r) => setImmediate(r));
    expect(fourth).toBe(false);
    slots.give();
    await new Promise((r) => setImmediate(r));
    expect(fourth).toBe(true);
  });
});
