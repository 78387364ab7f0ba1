import { afterEach, describe, expect, it } from '@jest/globals';
import { Lane, type Place } from '../../api/middleware/lane.ts';

const turn = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const lanes: Lane[] = [];
const newLane = (capacity: number, waitMs = 60_000, holdMs = 60_000) => {
  const lane = new Lane({ capacity, waitMs, holdMs });
  lanes.push(lane);
  return lane;
};
afterEach(() => lanes.splice(0).forEach((l) => l.close()));

describe('the drop lane', () => {
  it('lets at most `capacity` requests in, the rest in arrival order, freed places handed on at the next turn', async () => {
    const lane = newLane(2);
    const entered: number[] = [];
    const places: Place[] = [];
    const requests = [0, 1, 2, 3, 4].map((i) => lane.enter().then((p) => {
      entered.push(i);
      places[i] = p!;
    }));
    await Promise.resolve();
    expect(entered).toEqual([0, 1]);
    expect(lane.queued).toBe(3);

    places[0].leave();
    await Promise.resolve();
    expect(entered).toEqual([0, 1]); // not in the same turn
    await turn();
    expect(entered).toEqual([0, 1, 2]);

    places[1].leave();
    places[2].leave();
    await turn();
    expect(entered).toEqual([0, 1, 2, 3, 4]);
    expect(lane.queued).toBe(0);
    await Promise.all(requests);
  });

  it('never lets a newcomer pass requests already waiting', async () => {
    const lane = newLane(1);
    const order: string[] = [];
    const a = await lane.enter();
    order.push('a');
    const b = lane.enter().then((p) => {
      order.push('b');
      return p!;
    });
    a!.leave();
    // A place is free again before the next turn hands it on: c must still queue behind b.
    const c = lane.enter().then(() => order.push('c'));
    (await b).leave();
    await turn();
    await c;
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('gives a place back once, however often it is left', async () => {
    const lane = newLane(1);
    const a = await lane.enter();
    a!.leave();
    a!.leave();
    await turn();
    const b = await lane.enter();
    const c = lane.enter();
    await turn();
    expect(lane.inFlight).toBe(1);
    expect(lane.queued).toBe(1);
    b!.leave();
    (await c)!.leave();
  });

  it('answers 503 busy to a request that waited past its deadline', async () => {
    const lane = newLane(1, 300);
    const holder = await lane.enter();
    const waiter = lane.enter();
    await expect(waiter).rejects.toMatchObject({ code: 'busy', retryAfterS: 1 });
    expect(lane.expired.wait).toBe(1);
    expect(lane.queued).toBe(0);
    holder!.leave();
  });

  it('takes a place back from a request that held it past its deadline, and reports the stall until it finishes', async () => {
    const lane = newLane(1, 60_000, 400);
    const hung = await lane.enter(); // a request that hangs
    const waiter = lane.enter();
    await sleep(150);
    expect(lane.stalledForMs()).toBeGreaterThanOrEqual(100);
    expect(lane.oldestWaitMs()).toBeGreaterThanOrEqual(100);
    const place = await waiter;
    expect(lane.expired.hold).toBe(1);
    expect(lane.inFlight).toBe(1);
    expect(lane.overdue).toBe(1);
    place.leave();
    await turn();
    expect(lane.inFlight).toBe(0);
    // The hung request is still running: the lane is not healthy yet.
    expect(lane.stalledForMs()).toBeLessThan(30); // a request finished just now: progress
    await sleep(50);
    expect(lane.stalledForMs()).toBeGreaterThanOrEqual(40);
    hung.leave();
    expect(lane.overdue).toBe(0);
    expect(lane.stalledForMs()).toBe(0);
  });
});
