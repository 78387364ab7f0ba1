import { UnrecoverableError } from 'bullmq';
import type { Deps } from '../deps.ts';
import type { Product } from '../db/entities/product.entity.ts';
import { EXPIRY_QUEUE, jobOptions, paymentQueueName } from '../queues.ts';
import { productOfTicket } from './tickets.ts';
import { ORDER_STATUS_OF_TICKET, settleOrder } from './orders.ts';
import { recordPayment, recordRefund, refundIfCharged } from './payments.ts';
import { isUnstorable } from '../db/batcher.ts';
import { setExisting } from '../redis/scripts.ts';
import { TERMINAL_STATUSES } from './product-state.ts';

/**
 * Tickets one script call ends, hands units to, or reserves at most: a Lua script
 * blocks Redis for everyone while it runs, so a sweep of a sold-out queue or a big
 * admission job goes in calls of about a tenth of a millisecond each.
 */
const BATCH = 50;
const RESERVE_CHUNK = 25;

/**
 * Makes sure a product's live state is in Redis (see Catalog.ensureLoaded); when this call
 * rebuilt it, the holds given back to pending orders get their payment and expiry jobs.
 */
export async function loadProduct(deps: Deps, product: Product): Promise<void> {
  const rebuilt = await deps.catalog.ensureLoaded(product);
  if (rebuilt?.restored.length) await fulfilAll(deps, product, rebuilt.restored.map((ticketId) => ({ ticketId })));
}

async function productOf(deps: Deps, ticketId: string): Promise<Product | null> {
  const id = productOfTicket(ticketId);
  return id === null ? null : deps.catalog.find(id);
}

const scriptArgs = (deps: Deps, product: Product, ticketId: string) => ({
  keys: [...deps.keys.productScriptKeys(product.id), deps.keys.ticket(product.id, ticketId)],
  prefix: deps.keys.product(product.id).ticketPrefix,
});

/** What the stock worker did with an admission job's tickets. */
export type AdmissionOutcome = {
  /** Each ticket handled, in the job's order: its status and the request that admitted it. */
  handled: { ticketId: string; outcome: string; requestId?: string }[];
  /** Tickets left for later: the product's admission rate had no tokens for them. */
  rest: string[];
  /** How long until the rate has tokens for them (ms). */
  waitMs: number;
};

type ReserveReply = [number, number, number, ...[string, ...(string | number)[]][]];

/**
 * The stock worker's step for an admission job: one script call holds units for the
 * batch's queued tickets (or parks or ends them), then each new hold gets its pending
 * order and goes to payment. Safe to repeat at any point.
 */
export async function processAdmissions(deps: Deps, ticketIds: string[]): Promise<AdmissionOutcome> {
  const outcome: AdmissionOutcome = { handled: [], rest: [], waitMs: 0 };
  // A batch holds one product's tickets; grouping keeps a malformed job from mixing them.
  const byProduct = new Map<number, string[]>();
  for (const id of ticketIds) {
    const productId = productOfTicket(id) ?? 0;
    const group = byProduct.get(productId);
    if (group) group.push(id);
    else byProduct.set(productId, [id]);
  }
  for (const [productId, ids] of byProduct) {
    const product = productId ? await deps.catalog.find(productId) : null;
    if (!product) {
      outcome.handled.push(...ids.map((ticketId) => ({ ticketId, outcome: 'missing' })));
      continue;
    }
    for (let i = 0; i < ids.length; i += RESERVE_CHUNK) {
      const part = await reserveBatch(deps, product, ids.slice(i, i + RESERVE_CHUNK));
      outcome.handled.push(...part.handled);
      if (part.rest.length) {
        // Out of tokens: this chunk's rest and every later ticket wait, in order.
        outcome.rest.push(...part.rest, ...ids.slice(i + RESERVE_CHUNK));
        outcome.waitMs = Math.max(outcome.waitMs, part.waitMs);
        break;
      }
    }
  }
  return outcome;
}

async function reserveBatch(deps: Deps, product: Product, ticketIds: string[]): Promise<AdmissionOutcome> {
  const { config, scripts, keys } = deps;
  const run = async () => (await scripts.run('reserve',
    [...keys.productScriptKeys(product.id), ...ticketIds.map((id) => keys.ticket(product.id, id))],
    [config.PAYMENT_HOLD_MS, config.TICKET_TTL_S, product.type === 'reserve' ? 1 : 0, ...ticketIds])) as ReserveReply;
  let reply = await run();
  if (reply[0] === -1) {
    // Redis lost the product: rebuild it from the ledger, then decide.
    await loadProduct(deps, product);
    reply = await run();
    if (reply[0] === -1) throw new Error(`product ${product.id} is not loaded in Redis`);
  }
  const [handled, waitMs, endedSoldOut, ...results] = reply;
  const holds: Hold[] = [];
  results.forEach(([status, rid, ...rest], i) => {
    if (status !== 'reserved') return;
    // A hold made by this call comes with the ticket's fields: no read before fulfilling.
    const [user, qty, resAt, pm] = rest;
    const fresh = rest.length ? { user: String(user), qty: Number(qty), resAt: Number(resAt), rid: String(rid), pm: String(pm ?? '') } : undefined;
    holds.push({ ticketId: ticketIds[i], fresh });
  });
  await fulfilAll(deps, product, holds);
  // Only a call that ended a ticket sweeps: the jobs of tickets a sweep already ended
  // (most of a drop's queue) cost one round trip. The janitor sweeps too.
  if (endedSoldOut === 1) await sweepSoldOut(deps, product);
  return {
    handled: results.map(([outcome, rid], i) => ({ ticketId: ticketIds[i], outcome, requestId: String(rid) || undefined })),
    rest: ticketIds.slice(handled),
    waitMs,
  };
}

/** One ticket through the stock worker's step (a batch of one); its status after it. */
export async function processAdmission(deps: Deps, ticketId: string): Promise<string> {
  const { handled } = await processAdmissions(deps, [ticketId]);
  return handled[0]?.outcome ?? 'queued';
}

/** A hold reserve.lua just made: the ticket's fields, as fulfil would read them. */
type FreshHold = { user: string; qty: number; resAt: number; rid: string; pm: string };

type Hold = { ticketId: string; fresh?: FreshHold };

/**
 * Hands held tickets on: each gets its order and payment job (see fulfil), and the group
 * one expiry job, due when the last of their holds runs out. Idempotent.
 */
export async function fulfilAll(deps: Deps, product: Product, holds: Hold[]): Promise<void> {
  const deadlines = await Promise.all(holds.map((h) => fulfil(deps, product, h.ticketId, h.fresh)));
  const held = holds.filter((_, i) => deadlines[i] !== null).map((h) => h.ticketId);
  if (held.length === 0) return;
  const due = Math.max(...deadlines.map((d) => d ?? 0));
  await deps.queues.get(EXPIRY_QUEUE).add('expire', { tickets: held }, jobOptions.expiry(held[0], due - Date.now()));
}

/**
 * Order in MySQL, then the payment job. Idempotent. The order row is committed before
 * anything else is written, so the job that calls this never completes without it; then
 * the ticket's `order` field, only onto the ticket as it is (after Redis lost its data a
 * step on its way must not leave a ticket of one field behind: the rebuild restores the
 * hold from the order), then the payment job. An order MySQL can never store ends its
 * ticket `rejected` (`order_not_storable`), and its units go to the next buyer, instead
 * of retrying until the hold runs out. Returns when the hold runs out (ms), or null when
 * the ticket is not reserved (any more).
 */
async function fulfil(deps: Deps, product: Product, ticketId: string, fresh?: FreshHold): Promise<number | null> {
  const { redis, keys, orders, queues, config, scripts } = deps;
  const key = keys.ticket(product.id, ticketId);
  const [status, user, qty, resAt, order, rid, pm] = fresh
    ? ['reserved', fresh.user, String(fresh.qty), String(fresh.resAt), null, fresh.rid, fresh.pm]
    : await redis.hmget(key, 'status', 'user', 'qty', 'resAt', 'order', 'rid', 'pm');
  if (status !== 'reserved' || !user) return null;
  if (!order) {
    const quantity = Number(qty);
    let orderId: number;
    try {
      orderId = await orders.ensure({
        ticketId, userId: user, productId: product.id, quantity,
        amountMinor: quantity * product.priceMinor, currency: product.currency, paymentMethod: pm || 'pm_card_ok',
      });
    } catch (err) {
      if (!isUnstorable(err)) throw err;
      deps.logger.error({ ticketId, err: (err as Error).message }, 'order can never be stored; ticket rejected');
      await release(deps, product, ticketId, 'rejected', 'order_not_storable');
      return null;
    }
    if (!(await setExisting(scripts, key, 'status', { order: orderId }))) return null;
  }
  await queues.get(paymentQueueName(product.type))
    .add('pay', { ticketId, requestId: rid || undefined }, jobOptions.payment(ticketId, config.PAYMENT_ATTEMPTS));
  return Number(resAt) + config.PAYMENT_HOLD_MS;
}

/**
 * The payment worker's step: charge a reserved ticket once (the provider dedupes by
 * ticket id), then record the outcome. A late success on an expired hold is refunded.
 */
export async function processPayment(deps: Deps, ticketId: string, attempt = 1): Promise<string> {
  const product = await productOf(deps, ticketId);
  if (!product) return 'missing';
  const { redis, keys, payments, scripts, config, orm } = deps;
  const key = keys.ticket(product.id, ticketId);
  let t = await redis.hgetall(key);
  if (!t.status) {
    // Redis lost the product: the ledger rebuild restores holds of pending orders.
    await loadProduct(deps, product);
    t = await redis.hgetall(key);
    if (!t.status) return 'missing';
  }
  if (t.status !== 'reserved') {
    if (TERMINAL_STATUSES.has(t.status) && t.status !== 'paid') {
      // Ended without a sale while this job waited (its hold ran out, it was taken over
      // after its worker died): a charge the last attempt made must not stand.
      const orderId = t.order ? Number(t.order) : await orderIdOf(deps, ticketId);
      if (orderId) await refundIfCharged(deps, { ticketId, orderId, currency: product.currency }, `ticket ${t.status} before its payment settled`);
    }
    await syncOrder(deps, ticketId, t.status);
    // A retry after a settle that handed units on: the tickets that got them need their jobs.
    const promoted = t.status === 'paid' ? (t.promoted ?? '').split(',').filter(Boolean) : [];
    await fulfilAll(deps, product, promoted.map((id) => ({ ticketId: id })));
    return t.status;
  }
  if (!t.order) {
    await fulfilAll(deps, product, [{ ticketId }]);
    const [status, order] = await redis.hmget(key, 'status', 'order');
    if (status !== 'reserved' || !order) return status ?? 'missing';
    t.order = order;
  }
  const amountMinor = Number(t.qty) * product.priceMinor;
  const record = { ticketId, orderId: Number(t.order), amountMinor, currency: product.currency, attempts: attempt };
  const result = await payments.charge({ idempotencyKey: ticketId, amountMinor, currency: product.currency, paymentMethod: t.pm });
  if (result.outcome === 'declined') {
    await recordPayment(orm, { ...record, status: 'declined', declineReason: result.reason });
    await release(deps, product, ticketId, 'payment_failed', result.reason);
    throw new UnrecoverableError(`payment declined: ${result.reason}`);
  }
  await recordPayment(orm, { ...record, status: 'succeeded', providerReference: result.reference });
  const s = scriptArgs(deps, product, ticketId);
  const [status, remaining, promoted] = (await scripts.run('settle', s.keys,
    [ticketId, s.prefix, config.TICKET_TTL_S, config.PAYMENT_HOLD_MS, BATCH])) as [string, number, string[]];
  if (status === 'paid') {
    await settleOrder(orm, ticketId, 'paid');
    await fulfilAll(deps, product, promoted.map((id) => ({ ticketId: id })));
    if (remaining > 0) await sweepSoldOut(deps, product);
    return 'paid';
  }
  if (status === 'missing' || status === 'not_loaded') {
    // Redis lost the ticket while the provider charged: nothing decided it ended. The
    // rebuild gives its hold back from its pending order, and the next attempt settles it
    // (the provider answers the same charge again).
    await loadProduct(deps, product);
    throw new Error('ticket not in Redis while its charge went through; settling it on the next attempt');
  }
  // The hold ended before the provider answered: the late charge must not stand.
  const refund = await payments.refund({ idempotencyKey: ticketId, reference: result.reference, amountMinor, currency: product.currency });
  await recordRefund(orm, { ticketId, orderId: record.orderId, amountMinor, currency: product.currency,
    chargeReference: result.reference, refundReference: refund.reference });
  deps.logger.warn({ ticketId, status, charge: result.reference, refund: refund.reference }, 'late charge refunded');
  await syncOrder(deps, ticketId, status);
  return status;
}

/**
 * The expiry step for a group of holds made together: each hold that ran out returns its
 * units (a no-op for a ticket paid or released since, the usual case). A hold that is not
 * due yet (given again since the job was scheduled) gets a job of its own.
 */
export async function processExpiries(deps: Deps, ticketIds: string[]): Promise<string[]> {
  const outcomes: string[] = [];
  for (const ticketId of ticketIds) {
    const product = await productOf(deps, ticketId);
    if (!product) {
      outcomes.push('missing');
      continue;
    }
    const [deadline, status] = await Promise.all([
      deps.redis.zscore(deps.keys.product(product.id).holds, ticketId),
      deps.redis.hget(deps.keys.ticket(product.id, ticketId), 'status'),
    ]);
    if (status !== 'reserved') {
      // Paid or released since (most of a group): the step that ended it synced its order.
      outcomes.push(status ?? 'missing');
      continue;
    }
    if (deadline !== null && Number(deadline) > Date.now()) {
      await deps.queues.get(EXPIRY_QUEUE).add('expire', { tickets: [ticketId] },
        jobOptions.expiry(`${ticketId}-${deadline}`, Number(deadline) - Date.now()));
      outcomes.push('not_due');
      continue;
    }
    outcomes.push(await release(deps, product, ticketId, 'expired', 'hold_expired'));
  }
  return outcomes;
}

/** The expiry step for one ticket's hold; its status after it. */
export async function processExpiry(deps: Deps, ticketId: string): Promise<string> {
  return (await processExpiries(deps, [ticketId]))[0];
}

/** Ends a reserved ticket, returns its units exactly once and hands them on. */
async function release(deps: Deps, product: Product, ticketId: string, status: 'payment_failed' | 'expired' | 'rejected', reason: string) {
  const { scripts, config } = deps;
  const s = scriptArgs(deps, product, ticketId);
  const [outcome, promoted, remaining] = (await scripts.run('release', s.keys,
    [ticketId, s.prefix, status, reason, config.TICKET_TTL_S, config.PAYMENT_HOLD_MS, BATCH])) as [string, string[], number];
  if (outcome === 'not_loaded') {
    await loadProduct(deps, product);
    throw new Error(`product ${product.id} was not loaded in Redis; releasing ${ticketId} on the next attempt`);
  }
  if (outcome === 'released') {
    await syncOrder(deps, ticketId, status);
    await fulfilAll(deps, product, promoted.map((id) => ({ ticketId: id })));
    if (remaining > 0) await sweepSoldOut(deps, product);
    return status;
  }
  await syncOrder(deps, ticketId, outcome);
  return outcome;
}

/** The id of a ticket's order in the ledger, if it has one. */
async function orderIdOf(deps: Deps, ticketId: string): Promise<number | null> {
  const [row]: { id: number }[] = await deps.orm.em.getConnection().execute('select id from orders where ticket_id = ?', [ticketId]);
  return row ? Number(row.id) : null;
}

async function syncOrder(deps: Deps, ticketId: string, ticketStatus: string): Promise<void> {
  const orderStatus = ORDER_STATUS_OF_TICKET[ticketStatus];
  if (orderStatus) await settleOrder(deps.orm, ticketId, orderStatus);
}

/** Once nothing can come back, ends every queued ticket sold_out, a batch at a time. */
export async function sweepSoldOut(deps: Deps, product: Product): Promise<void> {
  const keys = deps.keys.productScriptKeys(product.id);
  const prefix = deps.keys.product(product.id).ticketPrefix;
  while (((await deps.scripts.run('sweep', keys, [prefix, deps.config.TICKET_TTL_S, BATCH])) as number) > 0);
}

