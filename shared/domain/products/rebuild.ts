import type { Deps } from '../../deps.ts';
import type { Product } from '../../db/entities/product.entity.ts';
import type { LedgerRow } from '../../db/orders.repository.ts';
import type { RedisSnapshot } from '../../db/entities/product.entity.ts';
import { jobOptions } from '../../queues/queues.ts';
import { randomId } from '../../random-ids.ts';
import type { Requeued } from '../../redis/scripts.ts';
import { drainLog } from '../audit/drain.ts';
import { commitmentOf } from '../audit/lottery.ts';
import { TICKET_STATUSES, TICKET_STATUS_OF_ORDER } from '../tickets/statuses.ts';
import { admissionRate, applyOperatorSettings } from './settings.ts';

/** How long a rebuild may hold its lock, and keep the stock worker from taking tickets. */
export const REBUILD_LOCK_MS = 10_000;

/** What a rebuild gave back: tickets whose holds came back and need their payment jobs again. */
export type Rebuilt = { restored: string[] };

/**
 * Loads a product's live state into a Redis that does not have it (first use, or Redis
 * lost it), from MySQL: orders are the truth for units sold and held and for who holds
 * how many; the operator's pause and rate come from the product row; the drained event
 * log says which tickets were admitted and have not ended.
 *
 * - Every pending order holds its units again: its ticket comes back `reserved` with its
 *   order and payment method, and the caller adds its payment job (see loadProduct).
 * - Every admitted ticket without an order and without an end in the log (and any ticket
 *   hash that survived while its product's state did not) is queued again with its old
 *   order key, ahead of anyone admitted later, and reaches a terminal status as usual.
 *   Only what the log had not yet drained is lost (at most EVENT_LOG_DRAIN_MS of
 *   admissions); the product's last snapshot says how much, and the loss is recorded.
 * - Tickets whose order ended while the log's record of it was lost get a `settled` event.
 *
 * Returns null when another process loaded the product first.
 */
export async function rebuildProduct(deps: Deps, product: Product): Promise<Rebuilt | null> {
  // Whatever survived of the log goes to MySQL first: the chain continues from its end.
  await drainLog(deps, product.id);
  const [rows, operator, last, maxSeq, open] = await Promise.all([
    deps.orders.ofProduct(product.id), deps.products.operatorState(product.id), deps.events.last(product.id),
    deps.events.maxSeq(product.id), deps.events.openTickets(product.id),
  ]);
  const rate = admissionRate(deps.config, operator);
  const ledger = fromLedger(rows);
  const orders = new Map(rows.map((r) => [r.ticketId, r]));
  const waiting = await waitingTickets(deps, product, open, orders);
  const counts = { ...ledger.counts, queued: 0 };
  const opensAt = product.type === 'reserve' && product.opensAt ? product.opensAt.getTime() : -1;
  const queueOpensAt = product.type === 'reserve' && product.queueOpensAt ? product.queueOpensAt.getTime() : -1;
  const available = Math.max(0, product.totalStock - ledger.sold - ledger.reserved);
  // The product looks loaded from initProduct on, and buyers are admitted again at once (after
  // every ticket the rebuild will requeue); until the requeue is done, the stock worker takes
  // nothing (reserve.lua), so no later ticket gets units ahead of one still to be put back.
  const { serverTimeMs } = await deps.scripts.readFields(product.id, []);
  const fields: Record<string, string | number> = {
    type: product.type, opensAt, qOpensAt: queueOpensAt,
    limit: product.type === 'reserve' ? product.perUserLimit : 0,
    total: product.totalStock, available, reserved: ledger.reserved, sold: ledger.sold,
    paused: operator.paused ? 1 : 0,
    seq: Math.max(maxSeq, ...waiting.map((t) => Number(t.orderKey))),
    rate, price: product.priceMinor, currency: product.currency, rebuildUntil: serverTimeMs + REBUILD_LOCK_MS,
    ...Object.fromEntries(Object.entries(counts).map(([s, n]) => [`t_${s}`, n])),
  };
  const loadedEvent = JSON.stringify({
    total: product.totalStock, available, reserved: ledger.reserved, sold: ledger.sold,
    opensAt: opensAt >= 0 ? opensAt : null, queueOpensAt: queueOpensAt >= 0 ? queueOpensAt : null,
    commitment: product.lotterySeed ? commitmentOf(product.lotterySeed) : null,
  });
  if (!(await deps.scripts.initProduct(product.id, fields, ledger.held, loadedEvent, last?.hash ?? ''))) return null;

  const restored = await deps.scripts.restoreHolds(product.id, ledger.pending.map((o) => ({
    ticketId: o.ticketId, userId: o.userId, quantity: o.quantity, paymentMethod: o.paymentMethod ?? 'pm_card_ok', orderId: o.id,
  })));
  // Tickets the log left open whose orders ended: the log hears how.
  for (const t of open) {
    const order = orders.get(t.ticketId);
    if (order && order.status !== 'pending') {
      await deps.scripts.logEvent(product.id, { type: 'settled', ticketId: t.ticketId, userId: t.userId, qty: t.qty, orderKey: t.orderKey, extra: TICKET_STATUS_OF_ORDER[order.status] });
    }
  }
  const requeued = await requeue(deps, product, waiting);
  await deps.productState.setLive(product.id, { rebuildUntil: 0 });
  await deps.productState.register(product.id);
  await applyOperatorSettings(deps, product, { paused: operator.paused, ratePerSecond: rate });
  if (operator.snapshot) await recordLoss(deps, product, operator.snapshot, maxSeq, restored.length);
  await deps.products.writeSnapshot(product.id, { at: Date.now(), seq: Number(fields.seq), tickets: { ...counts, queued: requeued } });
  return { restored };
}

/**
 * Tickets to queue again: those the log admitted and never ended, and ticket hashes that
 * outlived their product's state while still waiting (a reserved one without an order yet
 * had its units counted nowhere: it waits again too), in their old order.
 */
async function waitingTickets(deps: Deps, product: Product, open: { ticketId: string; userId: string; qty: number; orderKey: string; paymentMethod: string }[],
  orders: Map<string, LedgerRow>): Promise<Requeued[]> {
  const byId = new Map<string, Requeued>();
  for (const t of open) {
    if (!orders.has(t.ticketId)) {
      byId.set(t.ticketId, { ticketId: t.ticketId, userId: t.userId, quantity: t.qty, paymentMethod: t.paymentMethod || 'pm_card_ok', orderKey: t.orderKey, requestId: '' });
    }
  }
  for (const t of await deps.tickets.survivors(product.id)) {
    if (t.status === 'queued' || (t.status === 'reserved' && !orders.has(t.ticketId))) {
      byId.set(t.ticketId, { ticketId: t.ticketId, userId: t.userId, quantity: t.quantity, paymentMethod: t.paymentMethod || 'pm_card_ok', orderKey: t.orderKey, requestId: t.requestId ?? '' });
    }
  }
  return [...byId.values()].sort((a, b) => Number(a.orderKey) - Number(b.orderKey));
}

/** Units sold and held, by whom, and tickets by status, as the orders say. */
function fromLedger(rows: LedgerRow[]) {
  let sold = 0;
  let reserved = 0;
  const held = new Map<string, number>();
  const counts: Record<string, number> = Object.fromEntries(TICKET_STATUSES.map((s) => [s, 0]));
  const pending: LedgerRow[] = [];
  for (const r of rows) {
    counts[TICKET_STATUS_OF_ORDER[r.status]]++;
    if (r.status === 'paid') sold += r.quantity;
    if (r.status === 'pending') {
      reserved += r.quantity;
      pending.push(r);
    }
    if (r.status === 'paid' || r.status === 'pending') held.set(r.userId, (held.get(r.userId) ?? 0) + r.quantity);
  }
  return { sold, reserved, held, counts, pending };
}

/** Puts waiting tickets back in the queue in their old places, with an admission job; how many. */
async function requeue(deps: Deps, product: Product, waiting: Requeued[]): Promise<number> {
  if (waiting.length === 0) return 0;
  const jobId = `b${product.id}-${randomId(12)}`;
  let queued: string[] = [];
  for (let i = 0; i < waiting.length; i += 500) queued = queued.concat(await deps.scripts.requeue(product.id, waiting.slice(i, i + 500), jobId));
  if (queued.length) {
    await deps.queues.admission(product.type, product.id)
      .add('admit', { tickets: queued.slice(-1) }, { ...jobOptions.admission(jobId), lifo: true });
  }
  return queued.length;
}

/**
 * What Redis lost of a product: the admissions its last snapshot counted that never reached
 * the log in MySQL (those after the snapshot are lost uncounted: at most a drain interval).
 */
async function recordLoss(deps: Deps, product: Product, snapshot: RedisSnapshot, loggedSeq: number, restored: number) {
  await deps.products.recordLoss({
    productId: product.id,
    detectedAt: new Date(),
    snapshotAt: new Date(snapshot.at),
    queuedLost: Math.max(0, snapshot.seq - loggedSeq),
    // Tickets that ended without an order are in the log (up to its last drain).
    endedLost: 0,
    admittedAtSnapshot: snapshot.seq,
    restoredHolds: restored,
  });
}
