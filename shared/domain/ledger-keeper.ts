import type { Deps } from '../deps.ts';
import type { Product } from '../db/entities/product.entity.ts';
import { paymentQueueName } from '../queues.ts';
import { TICKET_STATUSES } from './product-state.ts';
import { recordPayment, refundIfCharged } from './payments.ts';
import { loadProduct, processExpiries } from './fulfilment.ts';
import { ORDER_STATUS_OF_TICKET, settleOrder } from './orders.ts';
import { writeSnapshot } from './rebuild.ts';

/**
 * The backstops that keep the provider, Redis and the MySQL ledger in step whatever
 * happened in between (a worker killed after charging, Redis restarted empty, MySQL away
 * for longer than a hold). Run by the workers' janitor every RECONCILE_INTERVAL_MS; each
 * step is idempotent, so any number of worker processes may run them at once.
 */

/** Payment job states in which the job will still settle its ticket itself. */
const LIVE_JOB_STATES = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);

export type PaymentCheck = { checked: number; refunded: number; deferred: number; paidWithoutCharge: string[] };

/**
 * The provider's word against the ledger: net charges per ticket are 1 for a paid ticket
 * and 0 for every other. Every order that ended without a sale is looked up at the
 * provider once its payment job can no longer run (a job still waiting or running settles
 * the ticket itself); a charge found is refunded and recorded, and the order is marked
 * verified. A paid order with no charge recorded is looked up too: a charge found is
 * recorded, none is reported (it cannot be fixed here).
 */
export async function reconcilePayments(deps: Deps, limit = 200): Promise<PaymentCheck> {
  const connection = deps.orm.em.getConnection();
  const ended: { id: number; ticket_id: string; product_id: number; currency: string }[] = await connection.execute(
    `select id, ticket_id, product_id, currency from orders
     where status in ('expired', 'failed') and charge_verified_at is null order by id limit ?`, [limit]);
  const check: PaymentCheck = { checked: 0, refunded: 0, deferred: 0, paidWithoutCharge: [] };
  await eachLimited(ended, 8, async (o) => {
    const product = await deps.catalog.find(o.product_id);
    const state = await deps.queues.get(paymentQueueName(product?.type ?? 'reserve')).getJobState(`pay-${o.ticket_id}`);
    if (LIVE_JOB_STATES.has(state)) {
      check.deferred++;
      return;
    }
    const outcome = await refundIfCharged(deps, { ticketId: o.ticket_id, orderId: o.id, currency: o.currency }, 'payment reconciliation');
    await connection.execute('update orders set charge_verified_at = ? where id = ?', [new Date(), o.id], 'run');
    check.checked++;
    if (outcome === 'refunded') check.refunded++;
  });
  const paid: { id: number; ticket_id: string; amount_minor: number; currency: string }[] = await connection.execute(
    `select o.id, o.ticket_id, o.amount_minor, o.currency from orders o left join payments p on p.ticket_id = o.ticket_id
     where o.status = 'paid' and p.id is null order by o.id limit ?`, [limit]);
  for (const o of paid) {
    const charge = await deps.payments.lookup(o.ticket_id);
    if (!charge) {
      check.paidWithoutCharge.push(o.ticket_id);
      continue;
    }
    await recordPayment(deps.orm, {
      ticketId: o.ticket_id, orderId: o.id, status: 'succeeded', amountMinor: Number(o.amount_minor), currency: o.currency,
      attempts: 1, providerReference: charge.reference,
    });
  }
  if (check.paidWithoutCharge.length) deps.logger.error({ tickets: check.paidWithoutCharge }, 'paid orders without a charge at the provider');
  return check;
}

/**
 * Every order MySQL knows reaches a terminal status. A pending order whose hold should
 * long have run out is settled to its ticket's status, has its overdue hold expired, or,
 * when Redis no longer has its ticket at all (it was written while Redis lost its data,
 * after the rebuild had read the ledger: its units were counted nowhere), ends `expired`.
 * A product Redis lost is rebuilt first, which gives its pending orders their holds back.
 */
export async function settleOverdueOrders(deps: Deps, limit = 200): Promise<number> {
  const graceMs = deps.config.PAYMENT_HOLD_MS + 30_000;
  const rows: { ticket_id: string; product_id: number }[] = await deps.orm.em.getConnection().execute(
    `select ticket_id, product_id from orders where status = 'pending' and updated_at < ? order by id limit ?`,
    [new Date(Date.now() - graceMs), limit]);
  let settled = 0;
  for (const { ticket_id: ticketId, product_id: productId } of rows) {
    const product = await deps.catalog.find(productId);
    if (!product) continue;
    await loadProduct(deps, product);
    const status = await deps.redis.hget(deps.keys.ticket(productId, ticketId), 'status');
    if (status === 'reserved') {
      await processExpiries(deps, [ticketId]);
    } else if (status === null || ORDER_STATUS_OF_TICKET[status]) {
      const orderStatus = status === null ? 'expired' : ORDER_STATUS_OF_TICKET[status]!;
      if (await settleOrder(deps.orm, ticketId, orderStatus)) {
        settled++;
        deps.logger.warn({ ticketId, ticketStatus: status, orderStatus }, 'overdue pending order settled');
      }
    }
  }
  return settled;
}

/** Rebuilds, from the ledger, every product Redis no longer has (it restarted empty). */
export async function reloadLostProducts(deps: Deps, products: Product[]): Promise<Product[]> {
  if (products.length === 0) return [];
  const pipeline = deps.redis.pipeline();
  products.forEach((p) => pipeline.hexists(deps.keys.product(p.id).product, 'total'));
  const loaded = (await pipeline.exec()) ?? [];
  const lost = products.filter((_, i) => loaded[i]?.[1] === 0);
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
  const fields = ['seq', ...TICKET_STATUSES.map((s) => `t_${s}`)];
  const pipeline = deps.redis.pipeline();
  products.forEach((p) => pipeline.hmget(deps.keys.product(p.id).product, 'total', ...fields));
  const replies = (await pipeline.exec()) ?? [];
  for (const [i, product] of products.entries()) {
    const [total, seq, ...counts] = (replies[i]?.[1] ?? []) as (string | null)[];
    if (total === null || total === undefined) continue;
    const tickets = Object.fromEntries(TICKET_STATUSES.map((s, j) => [s, Number(counts[j] ?? 0)]));
    const key = JSON.stringify([seq, tickets]);
    if (written.get(product.id) === key) continue;
    await writeSnapshot(deps.orm, product.id, { at: Date.now(), seq: Number(seq ?? 0), tickets });
    written.set(product.id, key);
  }
}

async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}
