import type { Deps } from '../deps.ts';

type Ledger = { sold: number; pending: number; paidOrders: number };

/** How far back the report lists what Redis lost. */
const LOSS_WINDOW_MS = 24 * 3600_000;

/**
 * Redis (where stock is decided) against MySQL (the ledger) for every product:
 * sold units vs paid orders, held units vs pending orders, and Redis's own invariant
 * `sold + reserved + available == total`. A pending order can lead its Redis hold by a
 * moment in a running drop; anything else listed here is drift.
 *
 * Also the provider against the ledger (`payments`: orders that ended without a sale and
 * are not yet checked at the provider, charges refunded because their ticket had no sale,
 * paid orders without a recorded charge) and what Redis lost in the last 24 hours
 * (`losses`, see rebuildProduct). `ok` is false while any of these needs a look.
 */
export async function reconcile(deps: Deps) {
  const products = await deps.catalog.list();
  const rows: { product_id: number; status: string; units: string | number; orders: string | number }[] = await deps.orm.em
    .getConnection()
    .execute(
      `select product_id, status, sum(quantity) as units, count(*) as orders from orders
       where status in ('paid', 'pending') group by product_id, status`,
    );
  const ledger = new Map<number, Ledger>();
  for (const r of rows) {
    const l = ledger.get(r.product_id) ?? { sold: 0, pending: 0, paidOrders: 0 };
    if (r.status === 'paid') {
      l.sold = Number(r.units);
      l.paidOrders = Number(r.orders);
    } else l.pending = Number(r.units);
    ledger.set(r.product_id, l);
  }
  const { states } = await deps.catalog.live(products.map((p) => p.id));
  const report = products.map((p, i) => {
    const live = states[i];
    const mysql = { total: p.totalStock, ...(ledger.get(p.id) ?? { sold: 0, pending: 0, paidOrders: 0 }) };
    const drift: { field: string; redis: number | null; mysql: number; message: string }[] = [];
    if (!live) {
      drift.push({ field: 'state', redis: null, mysql: mysql.total, message: 'not loaded in Redis; rebuilt from the ledger on next use' });
      return { productId: p.id, redis: null, mysql, drift };
    }
    const check = (field: string, redis: number, expected: number, message: string) => {
      if (redis !== expected) drift.push({ field, redis, mysql: expected, message });
    };
    check('sold', live.sold, mysql.sold, 'units sold in Redis differ from paid order units in MySQL');
    check('total', live.total, mysql.total, 'total stock in Redis differs from the product row');
    check('reserved', live.reserved, mysql.pending, 'units held in Redis differ from pending order units in MySQL');
    check('available', live.available, live.total - live.sold - live.reserved, 'sold + reserved + available != total in Redis');
    return {
      productId: p.id,
      redis: { total: live.total, available: live.available, reserved: live.reserved, sold: live.sold },
      mysql,
      drift,
    };
  });
  const payments = await paymentReport(deps);
  const losses = await lossReport(deps);
  const ok = report.every((r) => r.drift.length === 0) && payments.paidWithoutCharge.length === 0 && losses.length === 0;
  return { ok, checkedAt: new Date().toISOString(), products: report, payments, losses };
}

async function paymentReport(deps: Deps) {
  const connection = deps.orm.em.getConnection();
  const [[awaiting], [refunded], paidWithoutCharge] = await Promise.all([
    connection.execute<{ n: number }[]>(`select count(*) as n from orders where status in ('expired', 'failed') and charge_verified_at is null`),
    connection.execute<{ n: number }[]>(`select count(*) as n from payments where status = 'refunded'`),
    connection.execute<{ ticket_id: string }[]>(`select o.ticket_id from orders o left join payments p on p.ticket_id = o.ticket_id
      where o.status = 'paid' and p.id is null order by o.id limit 100`),
  ]);
  return {
    /** Orders that ended without a sale, not yet looked up at the provider (their payment job may still run). */
    endedNotYetChecked: Number(awaiting.n),
    /** Charges refunded because their ticket ended without a sale (a late answer, a crash, the reconciliation). */
    refunded: Number(refunded.n),
    /** Paid orders with no charge recorded: drift the reconciliation could not fix. */
    paidWithoutCharge: paidWithoutCharge.map((r) => r.ticket_id),
  };
}

async function lossReport(deps: Deps) {
  const rows: { product_id: number; detected_at: Date; snapshot_at: Date | null; queued_lost: number; ended_lost: number;
    admitted_at_snapshot: number; restored_holds: number }[] = await deps.orm.em.getConnection().execute(
    'select * from redis_losses where detected_at > ? order by detected_at desc limit 100', [new Date(Date.now() - LOSS_WINDOW_MS)]);
  return rows.map((r) => ({
    productId: r.product_id,
    detectedAt: new Date(r.detected_at).toISOString(),
    snapshotAt: r.snapshot_at ? new Date(r.snapshot_at).toISOString() : null,
    queuedTicketsLost: r.queued_lost,
    endedTicketsLost: r.ended_lost,
    admittedAtSnapshot: r.admitted_at_snapshot,
    holdsRestored: r.restored_holds,
    note: 'Tickets Redis alone knew are gone (their buyers read 404): the queued ones counted at the snapshot, and any admitted after it.',
  }));
}
