import type { Deps } from '../../deps.ts';
import type { Product } from '../../db/entities/product.entity.ts';
import type { LedgerRow } from '../../db/orders.repository.ts';
import type { RedisSnapshot } from '../../db/entities/product.entity.ts';
import { jobOptions } from '../../queues/queues.ts';
import { randomId } from '../../random-ids.ts';
import type { Survivor } from '../../redis/ticket-store.ts';
import { TICKET_STATUSES, TICKET_STATUS_OF_ORDER } from '../tickets/statuses.ts';
import { admissionRate, applyOperatorSettings } from './settings.ts';

/** What a rebuild gave back: tickets whose holds came back and need their payment jobs again. */
export type Rebuilt = { restored: string[] };

/**
 * Loads a product's live state into a Redis that does not have it (first use, or Redis
 * lost it), from the MySQL ledger: orders are the truth for units sold and held and for
 * who holds how many; the operator's pause and rate come from the product row.
 *
 * - Every pending order holds its units again: its ticket comes back `reserved` with its
 *   order and payment method, and the caller adds its payment job (see loadProduct).
 * - Ticket hashes that survived (Redis lost the product's hash and sets, not the tickets)
 *   and were still waiting are queued again, in their old order, with an admission job.
 * - What Redis held that only Redis knew (queued tickets, the answers of tickets that ended
 *   without an order) is lost: the product's last snapshot says how much, and the loss is
 *   recorded (listed by `GET /admin/reconcile`).
 *
 * Returns null when another process loaded the product first.
 */
export async function rebuildProduct(deps: Deps, product: Product): Promise<Rebuilt | null> {
  const rows = await deps.orders.ofProduct(product.id);
  const operator = await deps.products.operatorState(product.id);
  const rate = admissionRate(deps.config, operator);
  const ledger = fromLedger(rows);
  const ordered = new Set(rows.map((r) => r.ticketId));
  // Waiting tickets that outlived the product's state (a reserved one without an order yet
  // had its units counted nowhere: it waits again too).
  const waiting = (await deps.tickets.survivors(product.id))
    .filter((t) => t.status === 'queued' || (t.status === 'reserved' && !ordered.has(t.ticketId)));
  const counts = { ...ledger.counts, queued: waiting.length };
  const fields: Record<string, string | number> = {
    type: product.type,
    opensAt: product.type === 'reserve' && product.opensAt ? product.opensAt.getTime() : -1,
    limit: product.type === 'reserve' ? product.perUserLimit : 0,
    total: product.totalStock,
    available: Math.max(0, product.totalStock - ledger.sold - ledger.reserved),
    reserved: ledger.reserved,
    sold: ledger.sold,
    paused: operator.paused ? 1 : 0,
    seq: Math.max(0, ...waiting.map((t) => t.seq)),
    rate,
    price: product.priceMinor,
    currency: product.currency,
    ...Object.fromEntries(Object.entries(counts).map(([s, n]) => [`t_${s}`, n])),
  };
  if (!(await deps.scripts.initProduct(product.id, fields, ledger.held))) return null;

  const restored = await deps.scripts.restoreHolds(product.id, ledger.pending.map((o) => ({
    ticketId: o.ticketId, userId: o.userId, quantity: o.quantity, paymentMethod: o.paymentMethod ?? 'pm_card_ok', orderId: o.id,
  })));
  await requeue(deps, product, waiting);
  await deps.productState.register(product.id);
  await applyOperatorSettings(deps, product, { paused: operator.paused, ratePerSecond: rate });
  if (operator.snapshot) await recordLoss(deps, product, operator.snapshot, waiting.length, restored.length);
  await deps.products.writeSnapshot(product.id, { at: Date.now(), seq: Number(fields.seq), tickets: counts });
  return { restored };
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

/** Puts surviving waiting tickets back at the head of the line (they are older than any still in a job). */
async function requeue(deps: Deps, product: Product, waiting: Survivor[]): Promise<void> {
  if (waiting.length === 0) return;
  const jobId = `b${product.id}-${randomId(12)}`;
  await deps.tickets.requeue(product.id, waiting, jobId);
  await deps.queues.admission(product.type, product.id)
    .add('admit', { tickets: waiting.map((t) => t.ticketId) }, { ...jobOptions.admission(jobId), lifo: true });
}

/** What Redis lost of a product, as its last snapshot counted it. */
async function recordLoss(deps: Deps, product: Product, snapshot: RedisSnapshot, requeued: number, restored: number) {
  const t = snapshot.tickets;
  await deps.products.recordLoss({
    productId: product.id,
    detectedAt: new Date(),
    snapshotAt: new Date(snapshot.at),
    queuedLost: Math.max(0, (t.queued ?? 0) - requeued),
    endedLost: (t.sold_out ?? 0) + (t.rejected ?? 0),
    admittedAtSnapshot: snapshot.seq,
    restoredHolds: restored,
  });
}
