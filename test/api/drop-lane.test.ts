import { describe, expect, it } from '@jest/globals';
import { Lane } from '../../api/middleware/drop-lane.ts';

const turn = () => new Promise((r) => setImmediate(r));

describe('the drop lane', () => {
  it('lets at most `capacity` requests in, the rest in arrival order, freed places handed on at the next turn', async () => {
    const lane = new Lane(2);
    const entered: number[] = [];
    const requests = [0, 1, 2, 3, 4].map((i) => lane.enter().then(() => entered.push(i)));
    await Promise.resolve();
    expect(entered).toEqual([0, 1]);
    expect(lane.queued).toBe(3);

    lane.leave();
    await Promise.resolve();
    expect(entered).toEqual([0, 1]); // not in the same turn
    await turn();
    expect(entered).toEqual([0, 1, 2]);

    lane.leave();
    lane.leave();
    await turn();
    expect(entered).toEqual([0, 1, 2, 3, 4]);
    expect(lane.queued).toBe(0);
    await Promise.all(requests);
  });

  it('never lets a newcomer pass requests already waiting', async () => {
    const lane = new Lane(1);
    const order: string[] = [];
    void lane.enter().then(() => order.push('a'));
    void lane.enter().then(() => order.push('b'));
    lane.leave();
    // A place is free again before the next turn hands it on: c must still queue behind b.
    const c = lane.enter().then(() => order.push('c'));
    await turn();
    lane.leave();
    await turn();
    await c;
    expect(order).toEqual(['a', 'b', 'c']);
  });
});
