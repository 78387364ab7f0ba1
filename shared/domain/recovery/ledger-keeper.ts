import type { Deps } from '../../deps.ts';
import type { Product } from '../../db/entities/product.entity.ts';
import { processExpiries } from '../expiry/expire.ts';
import { loadProduct } from '../products/load.ts';
import { ORDER_STATUS_OF_TICKET, TICKET_STATUSES } from '../tickets/statuses.ts';

/**
 * The backstops that keep Redis and the MySQL ledger in step whatever happened in between
 * (Redis restarted empty, MySQL away for longer than a hold). Run by the workers' janitor
 * every RECONCILE_INTERVAL_MS; each is idempotent, so any number of worker processes may
 * run them at once. (The provider's charges are reconciled by payment/reconcile-charges.ts.)
 */

/**
 * Every order MySQL knows reaches a terminal status. A pending order whose hold should
 * long have run out is settled to its ticket's status, has its overdue hold expired, or,
 * when Redis no longer has its ticket at all (it was written while Redis lost its data,
 * after the rebuild had read the ledger: its units were counted nowhere), ends `expired`.
 * A product Redis lost is rebuilt first, which gives its pending orders their holds back.
 */
export async function settleOverdueOrders(deps: Deps, limit = 200): Promise<number> {
  const before = new Date(Date.now() - deps.config.PAYMENT_HOLD_MS - 30_000);
  let settled = 0;
  for (const { ticketId, productId } of await deps.orders.pendingSince(before, limit)) {
    const product = await deps.catalog.find(productId);
    if (!product) continue;
    await loadProduct(deps, product);
    const status = await deps.tickets.status(productId, ticketId);
    if (status === 'reserved') {
      await processExpiries(deps, [ticketId]);
      continue;
    }
    const orderStatus = status === null ? 'expired' : ORDER_STATUS_OF_TICKET[status];
    if (orderStatus && (await deps.orders.settle(ticketId, orderStatus))) {
      settled++;
      deps.logger.warn({ ticketId, ticketStatus: status, orderStatus }, 'overdue pending order settled');
    }
  }
  return settled;
}

/** Rebuilds, from the ledger, every product Redis no longer has (it restarted empty). */
export async function reloadLostProducts(deps: Deps, products: Product[]): Promise<Product[]> {
  const loaded = await deps.productState.loaded(products.map((p) => p.id));
  const lost = products.filter((_, i) => !loaded[i]);
  for (const product of lost) await loadProduct(deps, product);
  return lost;
}

/**
 * Writes each loaded product's live counters to its row when they changed: after Redis
 * loses the product, the last snapshot says what was lost (see rebuildProduct).
 * `written` remembers what this process wrote last.
 */
export async function snapshotProducts(deps: Deps, products: Product[], written: Map<number, string>): Promise<void> {
  if (products.length === 0) return;
  const read = await deps.productState.fields(products.map((p) => p.id), ['total', 'seq', ...TICKET_STATUSES.map((s) => `t_${s}`)]);
  for (const [i, product] of products.entries()) {
    const [total, seq, ...counts] = read[i].values;
    if (total === null) continue;
    const tickets = Object.fromEntries(TICKET_STATUSES.map((s, j) => [s, Number(counts[j] ?? 0)]));
    const key = JSON.stringify([seq, tickets]);
    if (written.get(product.id) === key) continue;
    await deps.products.writeSnapshot(product.id, { at: Date.now(), seq: Number(seq ?? 0), tickets });
    written.set(product.id, key);
  }
}
