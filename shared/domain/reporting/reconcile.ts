import type { Deps } from '../../deps.ts';
import { readLive } from '../products/live-state.ts';

/** How far back the report lists what Redis lost. */
const LOSS_WINDOW_MS = 24 * 3600_000;

type Drift = { field: string; redis: number | null; mysql: number; message: string };

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
  const ledger = await deps.orders.unitsByProduct();
  const { states } = await readLive(deps, products.map((p) => p.id));
  const report = products.map((p, i) => {
    const live = states[i];
    const mysql = { total: p.totalStock, ...(ledger.get(p.id) ?? { sold: 0, pending: 0, paidOrders: 0 }) };
    const drift: Drift[] = [];
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
  return { ok, checkedAt: new Date().toISOString(), products: report, payments, losses, clock: await clockReport(deps) };
}

/**
 * The clocks that decide when drops open: each Redis master's against this process's. A
 * drop opens by its own shard's clock, so `maxSkewMs` is the most two drops set to open
 * at the same instant can open apart (0 on one server).
 */
async function clockReport(deps: Deps) {
  const nodes = await deps.productState.clocks();
  const offsets = nodes.map((n) => n.offsetMs);
  return { nodes, maxSkewMs: Math.round((Math.max(...offsets) - Math.min(...offsets)) * 10) / 10 };
}

async function paymentReport(deps: Deps) {
  const [endedNotYetChecked, refunded, paidWithoutPayment] = await Promise.all([
    deps.orders.countEndedUnchecked(),
    deps.payments.countRefunded(),
    deps.orders.paidWithoutPayment(100),
  ]);
  return {
    /** Orders that ended without a sale, not yet looked up at the provider (their payment job may still run). */
    endedNotYetChecked,
    /** Charges refunded because their ticket ended without a sale (a late answer, a crash, the reconciliation). */
    refunded,
    /** Paid orders with no charge recorded: drift the reconciliation could not fix. */
    paidWithoutCharge: paidWithoutPayment.map((o) => o.ticketId),
  };
}

async function lossReport(deps: Deps) {
  const losses = await deps.products.lossesSince(new Date(Date.now() - LOSS_WINDOW_MS));
  return losses.map((r) => ({
    productId: r.productId,
    detectedAt: r.detectedAt.toISOString(),
    snapshotAt: r.snapshotAt?.toISOString() ?? null,
    queuedTicketsLost: r.queuedLost,
    endedTicketsLost: r.endedLost,
    admittedAtSnapshot: r.admittedAtSnapshot,
    holdsRestored: r.restoredHolds,
    note: 'Tickets Redis alone knew are gone (their buyers read 404): the queued ones counted at the snapshot, and any admitted after it.',
  }));
}
