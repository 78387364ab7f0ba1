import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createTestContext, type TestContext } from '../../setup/context.ts';
import { TcpProxy } from '../../setup/tcp-proxy.ts';
import { connectOrm, type Orm } from '../../../shared/db/orm.ts';
import { PaymentsRepository, type PaymentRecord } from '../../../shared/db/payments.repository.ts';
import { OrdersRepository, type SettledStatus } from '../../../shared/db/orders.repository.ts';
import { isUnstorable } from '../../../shared/db/batcher.ts';

/**
 * The payment worker's two MySQL writes, batched per event-loop turn: each caller must
 * still see exactly what one statement of its own would have done, against real MariaDB.
 */
describe('batched payment writes', () => {
  let ctx: TestContext;
  let orm: Orm;
  beforeAll(async () => {
    ctx = await createTestContext('paywrites');
    orm = ctx.deps.orm;
  });
  afterAll(async () => {
    await ctx.close();
  });

  const sql = <T = any>(query: string, params: unknown[] = []) => orm.em.getConnection().execute<T[]>(query, params);

  /** The repositories over an ORM: the context's own, or new ones over another connection pool. */
  const repositories = new Map<Orm, { orders: OrdersRepository; payments: PaymentsRepository }>();
  const of = (o: Orm) => {
    if (o === orm) return ctx.deps;
    let r = repositories.get(o);
    if (!r) repositories.set(o, (r = { orders: new OrdersRepository(o), payments: new PaymentsRepository(o) }));
    return r;
  };
  const recordPayment = (o: Orm, p: PaymentRecord) => of(o).payments.record(p);
  const settleOrder = (o: Orm, ticketId: string, status: SettledStatus) => of(o).orders.settle(ticketId, status);

  const payment = (ticketId: string, extra: Partial<PaymentRecord> = {}): PaymentRecord => ({
    ticketId, orderId: 1, status: 'succeeded', amountMinor: 12000, currency: 'EUR', attempts: 1, providerReference: `ch_${ticketId}`, ...extra,
  });

  /** Pending orders for these tickets (through the stock worker's batched insert). */
  const pendingOrders = (ticketIds: string[]) => Promise.all(ticketIds.map((ticketId) =>
    ctx.deps.orders.ensurePending({ ticketId, userId: `u-${ticketId}`, productId: 1, quantity: 1, amountMinor: 12000, currency: 'EUR', paymentMethod: 'pm_card_ok' })));

  /** A fixed shuffle (Fisher-Yates on a small LCG), so a failure can be replayed. */
  const shuffle = <T>(items: T[]) => {
    let seed = 42;
    for (let i = items.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const j = seed % (i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
  };

  const orderRow = async (ticketId: string) =>
    (await sql<{ status: string; updated_at: string }>('select status, updated_at from orders where ticket_id = ?', [ticketId]))[0];

  describe('recordPayment', () => {
    it('writes concurrent records as one statement, one row per ticket with the greatest attempts', async () => {
      const tickets = Array.from({ length: 40 }, (_, i) => `rp-many-${String(i).padStart(2, '0')}`);
      // Every ticket recorded 1 to 4 times with shuffled attempts; the first record's status stays.
      const records = tickets.flatMap((t, i) => Array.from({ length: 1 + (i % 4) }, (_, k) =>
        payment(t, { attempts: ((k * 7 + i) % 5) + 1, status: k === 0 && i % 3 === 0 ? 'declined' : 'succeeded' })));
      shuffle(records);
      const execute = jest.spyOn(orm.em.getConnection(), 'execute');
      try {
        await Promise.all(records.map((r) => recordPayment(orm, r)));
        expect(execute).toHaveBeenCalledTimes(1);
      } finally {
        execute.mockRestore();
      }

      const rows = await sql<{ ticket_id: string; attempts: number; status: string }>(
        `select ticket_id, attempts, status from payments where ticket_id like 'rp-many-%' order by ticket_id`);
      expect(rows.map((r) => r.ticket_id)).toEqual(tickets);
      for (const row of rows) {
        const mine = records.filter((r) => r.ticketId === row.ticket_id);
        expect(row.attempts).toBe(Math.max(...mine.map((r) => r.attempts)));
        expect(row.status).toBe(mine[0].status);
      }
    });

    it('keeps the row and the greatest attempts on a later repeat, and moves updated_at', async () => {
      await recordPayment(orm, payment('rp-later', { attempts: 3 }));
      const [before] = await sql<{ id: number; updated_at: string }>(`select id, updated_at from payments where ticket_id = 'rp-later'`);
      await new Promise((r) => setTimeout(r, 5));
      await Promise.all([recordPayment(orm, payment('rp-later', { attempts: 2 })), recordPayment(orm, payment('rp-later', { attempts: 1 }))]);
      const rows = await sql<{ id: number; attempts: number; updated_at: string }>(`select id, attempts, updated_at from payments where ticket_id = 'rp-later'`);
      expect(rows).toHaveLength(1);
      expect(rows[0].id).toBe(before.id);
      expect(rows[0].attempts).toBe(3);
      // datetime(3) comes back as 'YYYY-MM-DD hh:mm:ss.fff', which sorts as text.
      expect(rows[0].updated_at > before.updated_at).toBe(true);
    });

    it('rejects only the caller whose row MySQL cannot take, and writes its neighbours in the batch', async () => {
      const results = await Promise.allSettled([
        recordPayment(orm, payment('rp-bad-1')),
        recordPayment(orm, payment('rp-bad-2', { status: 'bogus' as PaymentRecord['status'] })),
        recordPayment(orm, payment('rp-bad-3')),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(isUnstorable((results[1] as PromiseRejectedResult).reason)).toBe(true);
      const rows = await sql<{ ticket_id: string }>(`select ticket_id from payments where ticket_id like 'rp-bad-%' order by ticket_id`);
      expect(rows.map((r) => r.ticket_id)).toEqual(['rp-bad-1', 'rp-bad-3']);
    });
  });

  describe('settleOrder', () => {
    it('lets exactly one of many concurrent calls in one batch settle an order, with its status', async () => {
      await pendingOrders(['so-one']);
      const statuses = ['expired', 'paid', 'failed', 'paid', 'expired', 'paid'] as const;
      const results = await Promise.all(statuses.map((s) => settleOrder(orm, 'so-one', s)));
      expect(results).toEqual([true, false, false, false, false, false]);
      expect((await orderRow('so-one')).status).toBe('expired');
    });

    it('lets exactly one of many concurrent batches settle an order, with its caller status', async () => {
      await pendingOrders(['so-turns']);
      const calls: { status: 'paid' | 'failed' | 'expired'; result: Promise<boolean> }[] = [];
      for (let i = 0; i < 12; i++) {
        const status = (['paid', 'failed', 'expired'] as const)[i % 3];
        calls.push({ status, result: settleOrder(orm, 'so-turns', status) });
        // A new event-loop turn: the next call goes to a batch of its own, in flight at once.
        await new Promise((r) => setImmediate(r));
      }
      const results = await Promise.all(calls.map((c) => c.result));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = calls[results.indexOf(true)];
      expect((await orderRow('so-turns')).status).toBe(winner.status);
    });

    it('settles each order of a mixed batch to its own status and reports each row', async () => {
      const tickets = Array.from({ length: 30 }, (_, i) => `so-mix-${String(i).padStart(2, '0')}`);
      await pendingOrders(tickets.slice(0, 25)); // the last five have no order at all
      const status = (i: number) => (['paid', 'failed', 'expired'] as const)[i % 3];
      const results = await Promise.all(tickets.map((t, i) => settleOrder(orm, t, status(i))));
      expect(results).toEqual(tickets.map((_, i) => i < 25));
      const rows = await sql<{ ticket_id: string; status: string }>(
        `select ticket_id, status from orders where ticket_id like 'so-mix-%' order by ticket_id`);
      expect(rows.map((r) => r.status)).toEqual(tickets.slice(0, 25).map((_, i) => status(i)));
    });

    it('returns false for an order already settled and changes nothing', async () => {
      await pendingOrders(['so-done']);
      expect(await settleOrder(orm, 'so-done', 'paid')).toBe(true);
      const before = await orderRow('so-done');
      await new Promise((r) => setTimeout(r, 5));
      expect(await Promise.all([settleOrder(orm, 'so-done', 'expired'), settleOrder(orm, 'so-done', 'paid')])).toEqual([false, false]);
      expect(await settleOrder(orm, 'so-done', 'failed')).toBe(false);
      expect(await orderRow('so-done')).toEqual(before);
    });

    it('rejects only the caller with a bad value; the batch is rolled back and its neighbours settle one by one', async () => {
      // The good ticket sorts first, so its update runs before the bad one fails the batch.
      await pendingOrders(['so-bad-a', 'so-bad-b', 'so-bad-c']);
      const results = await Promise.allSettled([
        settleOrder(orm, 'so-bad-a', 'paid'),
        settleOrder(orm, 'so-bad-b', 'bogus' as 'paid'),
        settleOrder(orm, 'so-bad-c', 'failed'),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'error'))).toEqual([true, 'error', true]);
      expect([(await orderRow('so-bad-a')).status, (await orderRow('so-bad-b')).status, (await orderRow('so-bad-c')).status])
        .toEqual(['paid', 'pending', 'failed']);
      // Nothing was left locked or half done: the next batch settles the bad one's order.
      expect(await settleOrder(orm, 'so-bad-b', 'paid')).toBe(true);
    });

    it('locks only its own orders: a batch goes through while another transaction holds a different pending order', async () => {
      // Few pending orders among settled ones, and a batch naming more tickets than there are
      // pending orders (some have none): the optimizer would rather read the status index,
      // and then a settle locked (and waited for) every pending order, not only its own.
      const done = Array.from({ length: 20 }, (_, i) => `so-own-done-${i}`);
      const free = ['so-own-free-1', 'so-own-free-2', 'so-own-free-3'];
      await pendingOrders([...done, 'so-own-held', ...free]);
      await Promise.all(done.map((t) => settleOrder(orm, t, 'paid')));
      const connection = orm.em.getConnection();
      const other = await connection.begin();
      try {
        await connection.execute(`select id from orders where ticket_id = 'so-own-held' for update`, [], 'all', other);
        const batch = Promise.all([...free, ...Array.from({ length: 6 }, (_, i) => `so-own-none-${i}`)].map((t) => settleOrder(orm, t, 'paid')));
        const waited = new Promise((r) => setTimeout(r, 5_000, 'waited for a lock it does not need'));
        expect(await Promise.race([batch, waited])).toEqual([true, true, true, false, false, false, false, false, false]);
      } finally {
        await connection.rollback(other);
      }
      expect(await settleOrder(orm, 'so-own-held', 'failed')).toBe(true);
    });

    it('runs a batch again when InnoDB picks it as a deadlock victim', async () => {
      await pendingOrders(['so-dl-a', 'so-dl-b']);
      const connection = orm.em.getConnection();
      // Another transaction holds b, the batch locks a and waits for b, then the other asks for a.
      const other = await connection.begin();
      try {
        await connection.execute(`update orders set updated_at = ? where ticket_id = 'so-dl-b'`, [new Date()], 'run', other);
        const settled = Promise.all([settleOrder(orm, 'so-dl-a', 'paid'), settleOrder(orm, 'so-dl-b', 'failed')]);
        const until = Date.now() + 10_000;
        while (!(await sql(`select 1 from information_schema.innodb_trx where trx_state = 'LOCK WAIT' and trx_query like '%so-dl-a%'`)).length) {
          if (Date.now() > until) throw new Error('the batch never waited for the lock');
          // information_schema.innodb_trx is a cache refreshed only after 100 ms without reads.
          await new Promise((r) => setTimeout(r, 200));
        }
        // The batch changed no row yet, so InnoDB rolls it back rather than this one.
        await connection.execute(`update orders set updated_at = ? where ticket_id = 'so-dl-a'`, [new Date()], 'run', other);
        await connection.commit(other);
        expect(await settled).toEqual([true, true]);
      } catch (err) {
        await connection.rollback(other).catch(() => undefined);
        throw err;
      }
      expect((await orderRow('so-dl-a')).status).toBe('paid');
      expect((await orderRow('so-dl-b')).status).toBe('failed');
    });
  });

  describe('when MySQL is unreachable', () => {
    const proxy = new TcpProxy({ host: '127.0.0.1', port: 3306 });
    let cut: Orm;
    beforeAll(async () => {
      const port = await proxy.start();
      cut = await connectOrm(ctx.config.DATABASE_URL.replace(/:3306\//, `:${port}/`));
      await cut.em.getConnection().execute('select 1');
    });
    afterAll(async () => {
      await proxy.stop();
      await cut.close(true).catch(() => undefined);
    });

    it('rejects every caller of the batch, and their rows are written once it is back', async () => {
      await pendingOrders(['so-cut-1', 'so-cut-2']);
      await proxy.stop();
      const payments = await Promise.allSettled(['rp-cut-1', 'rp-cut-2', 'rp-cut-3'].map((t) => recordPayment(cut, payment(t))));
      const settles = await Promise.allSettled([settleOrder(cut, 'so-cut-1', 'paid'), settleOrder(cut, 'so-cut-2', 'paid')]);
      expect([...payments, ...settles].map((r) => r.status)).toEqual(Array(5).fill('rejected'));
      expect(await sql(`select id from payments where ticket_id like 'rp-cut-%'`)).toEqual([]);
      expect((await orderRow('so-cut-1')).status).toBe('pending');

      // What a job retry does once MySQL is reachable again.
      await proxy.start();
      await Promise.all(['rp-cut-1', 'rp-cut-2', 'rp-cut-3'].map((t) => recordPayment(cut, payment(t))));
      expect(await Promise.all([settleOrder(cut, 'so-cut-1', 'paid'), settleOrder(cut, 'so-cut-2', 'paid')])).toEqual([true, true]);
      expect(await sql(`select id from payments where ticket_id like 'rp-cut-%'`)).toHaveLength(3);
    });
  });
});
