import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDrop, createTestContext, type TestContext } from '../../setup/context.ts';
import { commandsOn, expectConsistent, productScripts, scriptConnections } from '../../setup/drop-helpers.ts';
import type { ReserveResult } from '../../../shared/redis/scripts.ts';
import { processAdmissions } from '../../../shared/domain/reservation/reserve.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('lua-reserve');
});
afterAll(async () => {
  await ctx.close();
});

/** Asserts reserve.lua found the product's state (its reply then lists the tickets). */
function expectLoaded(reply: ReserveResult): asserts reply is Extract<ReserveResult, { loaded: true }> {
  expect(reply.loaded).toBe(true);
}

const drop = async (stock: number, extra: Record<string, unknown> = {}) => productScripts(ctx, (await createDrop(ctx, stock, extra)).id);

describe('reserve.lua', () => {
  it('holds the units of a queued ticket: available -> reserved, a hold deadline, the user charged against the limit', async () => {
    const s = await drop(3, { perUserLimit: 2 });
    const t = await s.admitted('ann', { quantity: 2 });
    expect(await s.reserve(t)).toBe('reserved');
    const ticket = await s.ticket(t);
    expect(ticket.status).toBe('reserved');
    const deadline = await ctx.deps.redis.zscore(s.keys.holds, t);
    expect(Number(deadline) - Number(ticket.resAt)).toBe(ctx.config.PAYMENT_HOLD_MS);
    expect(await s.held()).toEqual({ ann: 2 });
    expect(await s.queued()).toEqual([]);
    expect(await expectConsistent(s)).toMatchObject({ available: 1, reserved: 2, sold: 0, t_queued: 0, t_reserved: 1 });
  });

  it('is idempotent: a second call leaves the ticket as it is and returns its status', async () => {
    const s = await drop(3);
    const t = await s.admitted('ann');
    expect(await s.reserve(t)).toBe('reserved');
    const before = await s.state();
    expect(await s.reserve(t)).toBe('reserved');
    expect(await s.state()).toEqual(before);
    await s.settle(t);
    expect(await s.reserve(t)).toBe('paid');
    expect(await expectConsistent(s)).toMatchObject({ available: 2, reserved: 0, sold: 1, t_paid: 1 });
  });

  it('answers missing for a ticket that does not exist', async () => {
    const s = await drop(3);
    expect(await s.reserve('1-AAAAAAAAAAAAAAAA')).toBe('missing');
    expect(await expectConsistent(s)).toMatchObject({ available: 3 });
  });

  it('parks a ticket in waiting while every unit is held, and a retry keeps it parked', async () => {
    const s = await drop(1);
    await s.reserve(await s.admitted('ann'));
    const b = await s.admitted('bob');
    expect(await s.reserve(b)).toBe('waiting');
    expect(await s.reserve(b)).toBe('waiting');
    expect(await s.waiting()).toEqual([b]);
    expect(await s.status(b)).toBe('queued');
    expect(await expectConsistent(s)).toMatchObject({ available: 0, reserved: 1, t_queued: 1 });
  });

  it('ends a ticket sold_out when it wants more than can ever come back, and a retry returns sold_out', async () => {
    const s = await drop(2, { perUserLimit: 2 });
    const a = await s.admitted('ann', { quantity: 1 });
    expect(await s.reserve(a)).toBe('reserved');
    const b = await s.admitted('bob', { quantity: 2 });
    expect(await s.settle(a)).toEqual({ outcome: 'paid', promoted: [], remaining: 0 });
    expect(await s.reserve(b)).toBe('sold_out');
    expect(await s.reserve(b)).toBe('sold_out');
    expect(await s.queued()).toEqual([]);
    expect(await ctx.deps.redis.hget(s.keys.live, 'bob')).toBeNull();
    expect(await ctx.deps.redis.ttl(s.keys.ticketPrefix + b)).toBeGreaterThan(0);
    expect(await expectConsistent(s)).toMatchObject({ sold: 1, available: 1, t_paid: 1, t_sold_out: 1, t_queued: 0 });
  });

  it('ends a ticket sold_out that a partial sweep left queued', async () => {
    const s = await drop(1);
    const a = await s.admitted('ann');
    await s.reserve(a);
    const rest = [await s.admitted('bob'), await s.admitted('cat'), await s.admitted('dan')];
    expect(await s.settle(a, 1)).toEqual({ outcome: 'paid', promoted: [], remaining: 2 });
    for (const t of rest.slice(1)) expect(await s.reserve(t)).toBe('sold_out');
    expect(await s.reserve(rest[0])).toBe('sold_out');
    expect(await expectConsistent(s)).toMatchObject({ sold: 1, t_sold_out: 3, t_queued: 0 });
  });

  it('rejects a ticket that would put its user over the per-user limit', async () => {
    const s = await drop(5, { perUserLimit: 2 });
    const a = await s.admitted('ann', { quantity: 2 });
    await s.update({ perUserLimit: 1 });
    expect(await s.reserve(a)).toBe('rejected');
    expect(await s.ticket(a)).toMatchObject({ status: 'rejected', reason: 'per_user_limit' });
    expect(await s.reserve(a)).toBe('rejected');
    expect(await expectConsistent(s)).toMatchObject({ available: 5, t_rejected: 1, t_queued: 0 });
    expect(await s.held()).toEqual({});
  });

  it('never lets a newer ticket take units while an older one is parked', async () => {
    const s = await drop(3, { perUserLimit: 3 });
    const a = await s.admitted('ann', { quantity: 2 });
    const b = await s.admitted('bob', { quantity: 2 });
    const c = await s.admitted('cat', { quantity: 1 });
    expect(await s.reserve(a)).toBe('reserved');
    expect(await s.reserve(b)).toBe('waiting');
    // One unit is available and cat wants one, but bob (older) is parked first.
    expect(await s.reserve(c)).toBe('waiting');
    expect(await s.waiting()).toEqual([b, c]);
    expect((await s.state()).available).toBe(1);
  });

  it('gives released units to the oldest parked ticket', async () => {
    const s = await drop(2);
    const holders = [await s.admitted('h1'), await s.admitted('h2')];
    for (const t of holders) expect(await s.reserve(t)).toBe('reserved');
    const parked = [await s.admitted('p1'), await s.admitted('p2'), await s.admitted('p3')];
    // Processed out of admission order: p3 before p1 and p2; the queue order still wins.
    for (const t of [parked[2], parked[0], parked[1]]) expect(await s.reserve(t)).toBe('waiting');
    expect(await s.release(holders[1])).toEqual({ outcome: 'released', promoted: [parked[0]], remaining: 0 });
    expect(await s.release(holders[0])).toEqual({ outcome: 'released', promoted: [parked[1]], remaining: 0 });
    expect(await s.waiting()).toEqual([parked[2]]);
    expect(await expectConsistent(s)).toMatchObject({ available: 0, reserved: 2, t_expired: 2, t_reserved: 2, t_queued: 1 });
  });

  it('lets exactly 100 of 1,000 concurrent reservations on 4 connections hold the 100 units, within the per-user limit', async () => {
    const s = await drop(100, { perUserLimit: 1 });
    const users = Array.from({ length: 500 }, (_, i) => `buyer-${i}`);
    // Each user gets two tickets of one unit. The door allows one live ticket per user,
    // so the second is slipped past it (its live entry dropped): reserve alone must
    // keep the limit, with both of a user's tickets racing each other.
    const tickets: { user: string; id: string }[] = [];
    for (const round of [0, 1]) {
      for (const user of users) tickets.push({ user, id: await s.admitted(user) });
      if (round === 0) await ctx.deps.redis.del(s.keys.live);
    }
    const conns = scriptConnections(ctx, 4);
    try {
      const order = tickets.map((t, i) => ({ t, key: (i * 7919) % tickets.length })).sort((x, y) => x.key - y.key).map((x) => x.t);
      const results = await Promise.all(
        order.map(async (t, i) => ({ ...t, status: await productScripts(ctx, s.productId, conns.scripts[i % 4]).reserve(t.id) })),
      );
      const won = results.filter((r) => r.status === 'reserved');
      expect(won).toHaveLength(100);
      expect(new Set(won.map((r) => r.user)).size).toBe(100);
      const held = await s.held();
      expect(Object.values(held).every((n) => n === 1)).toBe(true);
      expect(Object.keys(held).sort()).toEqual(won.map((r) => r.user).sort());
      for (const r of results) expect(['reserved', 'waiting', 'rejected']).toContain(r.status);
      const st = await expectConsistent(s);
      expect(st).toMatchObject({ total: 100, available: 0, reserved: 100, sold: 0, t_reserved: 100 });
      expect(st.t_queued + st.t_rejected).toBe(900);

      // Everyone pays: the parked tickets can never be served and all end, sold_out or rejected.
      await Promise.all(won.map((r, i) => productScripts(ctx, s.productId, conns.scripts[i % 4]).settle(r.id)));
      while ((await s.sweep()) > 0);
      const end = await expectConsistent(s);
      expect(end).toMatchObject({ sold: 100, reserved: 0, available: 0, t_paid: 100, t_queued: 0, t_reserved: 0 });
      expect(end.t_sold_out + end.t_rejected).toBe(900);
      expect(await s.waiting()).toEqual([]);
      expect(Object.values(await s.held()).every((n) => n === 1)).toBe(true);
    } finally {
      await conns.close();
    }
  });
});

describe('reserve.lua with a batch (one admission job)', () => {
  it('handles each ticket in the order given, with one reply per ticket', async () => {
    const s = await drop(2);
    const [a, b, c] = [await s.admitted('ann'), await s.admitted('bob'), await s.admitted('cat')];
    const reply = await s.reserveBatch([a, b, c]);
    expectLoaded(reply);
    const { tickets, waitMs, endedSoldOut } = reply;
    expect({ handled: tickets.length, waitMs, endedSoldOut }).toEqual({ handled: 3, waitMs: 0, endedSoldOut: false });
    expect(tickets.map((r) => r.status)).toEqual(['reserved', 'reserved', 'waiting']);
    // A hold made by this call carries what fulfilling it needs: user, qty, time, request id, payment method.
    expect(tickets[0]).toEqual({
      ticketId: a, status: 'reserved', requestId: 'req-test',
      hold: { userId: 'ann', quantity: 1, heldAtMs: expect.any(Number), paymentMethod: 'pm_card_ok' },
    });
    expect(tickets[2]).toEqual({ ticketId: c, status: 'waiting', requestId: 'req-test' });
    expect(await s.waiting()).toEqual([c]);
    expect(await expectConsistent(s)).toMatchObject({ available: 0, reserved: 2, t_reserved: 2, t_queued: 1 });
  });

  it('writes the product hash as often for 6 tickets as for 1, and never a counter at a time', async () => {
    const writes = async (n: number) => {
      const s = await drop(3);
      const tickets: string[] = [];
      for (let i = 0; i < n; i++) tickets.push(await s.admitted(`u${i}`));
      const commands = await commandsOn(ctx, s.keys.product, () => s.reserveBatch(tickets, false));
      return { s, commands: commands.filter((c) => c !== 'hget' && c !== 'hmget' && c !== 'hexists') };
    };
    const one = await writes(1);
    const six = await writes(6); // 3 held, 3 parked: each a counter change and an event
    expect(one.commands).not.toContain('hincrby');
    expect(six.commands).toEqual(one.commands);
    expect(await expectConsistent(six.s)).toMatchObject({ available: 0, reserved: 3, t_reserved: 3, t_queued: 3 });
    expect((await six.s.log()).map((f) => f[1])).toEqual(['loaded', 'admitted', 'admitted', 'admitted', 'admitted', 'admitted', 'admitted',
      'reserved', 'reserved', 'reserved', 'parked', 'parked', 'parked']);
  });

  it('is idempotent per ticket: a retried batch returns each status and changes nothing', async () => {
    const s = await drop(1);
    const ids = [await s.admitted('ann'), await s.admitted('bob'), '1-AAAAAAAAAAAAAAAA'];
    await s.reserveBatch(ids);
    await s.settle(ids[0]);
    while ((await s.sweep()) > 0);
    const before = await s.state();
    const reply = await s.reserveBatch(ids);
    expectLoaded(reply);
    expect(reply.tickets).toEqual([]);
    expect({ statuses: reply.statuses, left: reply.left }).toEqual({ statuses: ['paid', 'sold_out', 'missing'], left: 0 });
    expect(await s.state()).toEqual(before);
  });

  it('says when it ended a ticket sold out, so the caller sweeps the rest of the queue', async () => {
    const s = await drop(1);
    const a = await s.admitted('ann');
    await s.reserve(a);
    const [b, c, d] = [await s.admitted('bob'), await s.admitted('cat'), await s.admitted('dan')];
    expect(await s.settle(a, 1)).toEqual({ outcome: 'paid', promoted: [], remaining: 2 }); // its sweep ended bob only
    const reply = await s.reserveBatch([c]);
    expectLoaded(reply);
    const { tickets, endedSoldOut } = reply;
    expect({ handled: tickets.length, endedSoldOut, tickets }).toEqual({
      handled: 1, endedSoldOut: true, tickets: [{ ticketId: c, status: 'sold_out', requestId: 'req-test' }],
    });
    expect(await s.status(b)).toBe('sold_out');
    expect(await s.queued()).toEqual([d]);
  });

  it('takes one token of the product rate per queued ticket, and leaves the rest with the wait until there are tokens', async () => {
    const s = await drop(10, { perUserLimit: 5 });
    // 20 tickets a second: a bucket of 2 (100 ms of the rate).
    await ctx.deps.redis.hset(s.keys.product, 'rate', 20);
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await s.admitted(`u${i}`));
    const first = await s.reserveBatch(ids);
    expectLoaded(first);
    const { tickets, waitMs } = first;
    expect(tickets).toHaveLength(2);
    expect(tickets.map((r) => r.status)).toEqual(['reserved', 'reserved']);
    // Two more tokens (a full bucket) take 100 ms at 20 a second.
    expect(waitMs).toBeGreaterThan(80);
    expect(waitMs).toBeLessThanOrEqual(100);
    expect(await s.queued()).toEqual(ids.slice(2));
    // Tickets no longer pending cost no token: the retried batch starts where it stopped.
    await new Promise((r) => setTimeout(r, waitMs));
    const again = await s.reserveBatch(ids);
    expectLoaded(again);
    expect(again.tickets.map((t) => t.ticketId)).toEqual(ids.slice(2, 4));
    expect(again.statuses).toEqual(['reserved', 'reserved', 'reserved', 'reserved', 'queued']);
    // Without the rate (general products, or a test's direct call) every ticket is handled.
    const all = await s.reserveBatch(ids, false);
    expectLoaded(all);
    expect(all.tickets.map((t) => t.ticketId)).toEqual(ids.slice(4));
    expect(await s.queued()).toEqual([]);
  });

  it('takes tickets from the head of the queue whatever job asks: a job of later tickets serves earlier ones first', async () => {
    const s = await drop(2);
    const [a, b, c] = [await s.admitted('ann'), await s.admitted('bob'), await s.admitted('cat')];
    const reply = await s.reserveBatch([c], false);
    expectLoaded(reply);
    expect(reply.tickets.map((t) => [t.ticketId, t.status])).toEqual([[a, 'reserved'], [b, 'reserved'], [c, 'waiting']]);
    expect({ statuses: reply.statuses, left: reply.left }).toEqual({ statuses: ['waiting'], left: 0 });
    // A job of tickets already taken takes nothing more.
    const again = await s.reserveBatch([a], false);
    expectLoaded(again);
    expect(again.tickets).toEqual([]);
    expect(await s.waiting()).toEqual([c]);
  });

  it('takes nothing while a rebuild is putting lost tickets back (until it is done or its deadline passed)', async () => {
    const s = await drop(5);
    const a = await s.admitted('ann');
    const { serverTimeMs } = await ctx.deps.scripts.readFields(s.productId, []);
    await ctx.deps.productState.setLive(s.productId, { rebuildUntil: serverTimeMs + 5_000 });
    const waiting = await s.reserveBatch([a], false);
    expectLoaded(waiting);
    expect(waiting.tickets).toEqual([]);
    expect(waiting.waitMs).toBeGreaterThan(0);
    expect(waiting.waitMs).toBeLessThanOrEqual(100);
    expect(await s.status(a)).toBe('queued');
    // A rebuild whose process died: its deadline lets the drop go on.
    await ctx.deps.productState.setLive(s.productId, { rebuildUntil: serverTimeMs - 1 });
    expect(await s.reserve(a)).toBe('reserved');
  });

  it('stops after `max` tickets a call, and says how many of the job are left', async () => {
    const s = await drop(10, { perUserLimit: 5 });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await s.admitted(`u${i}`));
    const reply = await s.reserveBatch([ids[4]], false, 3);
    expectLoaded(reply);
    expect(reply.tickets.map((t) => t.ticketId)).toEqual(ids.slice(0, 3));
    expect({ left: reply.left, waitMs: reply.waitMs, statuses: reply.statuses }).toEqual({ left: 1, waitMs: 0, statuses: ['queued'] });
  });
});

describe("the stock worker's step for an admission job (processAdmissions)", () => {
  it('gives the script a chunk of the job at a time, so each ticket is looked up once, and takes them all in queue order', async () => {
    const s = await drop(80, { perUserLimit: 1 });
    await ctx.http('PUT', `/admin/products/${s.productId}/rate`, { admin: true, body: { perSecond: 1_000_000 } });
    const tickets: string[] = [];
    for (let i = 0; i < 90; i++) tickets.push(await s.admitted(`u${i}`));
    let out!: Awaited<ReturnType<typeof processAdmissions>>;
    const commands = await commandsOn(ctx, s.keys.pending, async () => (out = await processAdmissions(ctx.deps, tickets)));
    // Before: every call (a chunk of 25 taken) looked up all 90, four times over.
    expect(commands.filter((c) => c === 'zscore')).toHaveLength(90);
    expect(out.rest).toEqual([]);
    expect(out.handled.map((h) => h.ticketId)).toEqual(tickets);
    expect(tickets.map((t) => out.statuses.get(t))).toEqual([...Array(80).fill('reserved'), ...Array(10).fill('waiting')]);
    expect(await expectConsistent(s)).toMatchObject({ available: 0, reserved: 80, t_reserved: 80, t_queued: 10 });
  });

  it('looks again at the part of a chunk a call did not reach, when other tickets were ahead of it', async () => {
    const s = await drop(100, { perUserLimit: 1 });
    await ctx.http('PUT', `/admin/products/${s.productId}/rate`, { admin: true, body: { perSecond: 1_000_000 } });
    const ahead: string[] = [];
    for (let i = 0; i < 40; i++) ahead.push(await s.admitted(`a${i}`));
    const job: string[] = [];
    for (let i = 0; i < 30; i++) job.push(await s.admitted(`j${i}`));
    // Only the job is given; the 40 tickets ahead of it go first, in queue order.
    const out = await processAdmissions(ctx.deps, job);
    expect(out.handled.map((h) => h.ticketId)).toEqual([...ahead, ...job]);
    expect(job.map((t) => out.statuses.get(t))).toEqual(Array(30).fill('reserved'));
    expect(await expectConsistent(s)).toMatchObject({ reserved: 70, t_reserved: 70, t_queued: 0 });
  });

  it('leaves the tickets it could not take yet, and only those, with the wait, when the rate has no tokens', async () => {
    const s = await drop(100, { perUserLimit: 1 });
    await ctx.http('PUT', `/admin/products/${s.productId}/rate`, { admin: true, body: { perSecond: 50 } });
    const job: string[] = [];
    for (let i = 0; i < 40; i++) job.push(await s.admitted(`u${i}`));
    const out = await processAdmissions(ctx.deps, job);
    const taken = out.handled.length;
    expect(taken).toBeGreaterThan(0);
    expect(taken).toBeLessThan(40);
    expect(out.waitMs).toBeGreaterThan(0);
    expect(out.rest).toEqual(job.slice(taken));
    expect(await s.queued()).toEqual(job.slice(taken));
  });
});
