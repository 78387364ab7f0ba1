import type { Deps } from '../deps.ts';

type Ledger = { sold: number; pending: number; paidOrders: number };

/**
 * Redis (where stock is decided) against MySQL (the ledger) for every product:
 * sold units vs paid orders, held units vs pending orders, and Redis's own invariant
 * `sold + reserved + available == total`. A pending order can lead its Redis hold by a
 * moment in a running drop; anything else listed here is drift.
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
  return { ok: report.every((r) => r.drift.length === 0), checkedAt: new Date().toISOString(), products: report };
}
