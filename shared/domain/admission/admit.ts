import type { Deps } from '../../deps.ts';
import type { Product } from '../../db/entities/product.entity.ts';
import { DomainError, invalid, notFound } from '../../errors.ts';
import { admissionQueueName } from '../../queues/queues.ts';
import type { AdmitResult } from '../../redis/scripts.ts';
import { scriptError } from '../../redis/script-errors.ts';
import { loadProduct } from '../products/load.ts';
import { newTicketId } from '../tickets/ids.ts';
import { etaMs, pollAfterMs, preQueueEtaMs, readTicket, type TicketView } from '../tickets/read-ticket.ts';
import { lotteryKey } from '../audit/lottery.ts';

export type PurchaseRequest = {
  productId: number;
  userId: string;
  quantity: number;
  paymentMethod: string;
  idempotencyKey?: string;
  requestId?: string;
};

export type Admission = { created: boolean; ticket: TicketView };

const IDEMPOTENCY_TTL_S = 24 * 3600;

const soldOut = () => new DomainError('sold_out', 'This product is sold out.');

/**
 * Admits a purchase into the product's queue, or says why not. The buyer waits for one
 * Redis round trip (admit.lua, which records the ticket in the queue); the ticket's
 * admission job follows in a batch (see AdmissionBatches). None once the product is known
 * to be finally sold out (the sold-out memo); MySQL only on a cold cache.
 */
export async function admit(deps: Deps, req: PurchaseRequest): Promise<Admission> {
  const product = await deps.catalog.find(req.productId);
  if (!product) throw notFound('Product');
  if (!req.idempotencyKey && deps.soldOut.has(product.id)) {
    deps.refusals.count(product.id, 'sold_out');
    throw soldOut();
  }
  const max = deps.config.MAX_ORDER_AMOUNT;
  if (req.quantity * product.priceMinor > max * 100) {
    throw invalid('quantity', `an order may come to at most ${max} ${product.currency}; ${req.quantity} × ${product.priceMinor / 100} is more`);
  }

  const linger = product.type === 'general' ? deps.config.GENERAL_ADMISSION_LINGER_MS : deps.config.DROP_ADMISSION_LINGER_MS;
  const batch = deps.admissions.join(product.id, admissionQueueName(product.type, product.id), linger);
  let result: AdmitResult;
  try {
    result = await runAdmit(deps, req, product, batch.id);
  } catch (err) {
    deps.admissions.leave(batch, null);
    throw err;
  }
  deps.admissions.leave(batch, result.outcome === 'created' ? result.ticketId : null);
  return answer(deps, req, product.id, result);
}

async function runAdmit(deps: Deps, req: PurchaseRequest, product: Product, jobId: string): Promise<AdmitResult> {
  const { config } = deps;
  const run = () => {
    const ticketId = newTicketId(product.id);
    // With a pre-queue, the ticket's lottery key goes along: the script (on the drop's
    // clock) decides whether the ticket is pre-queued, and then it is its place.
    const seed = product.queueOpensAt && product.lotterySeed;
    return deps.admitter.admit({
      productId: product.id, ticketId, userId: req.userId, quantity: req.quantity,
      paymentMethod: req.paymentMethod, idempotencyKey: req.idempotencyKey, requestId: req.requestId,
      userRatePerSec: config.USER_RATE_LIMIT_PER_SEC, maxQueued: config.MAX_QUEUED_PER_PRODUCT, idempotencyTtlS: IDEMPOTENCY_TTL_S, jobId,
      ...(seed && { lotteryKey: lotteryKey(seed, ticketId) }),
    });
  };
  const result = await run();
  if (result.outcome !== 'not_loaded') return result;
  await loadProduct(deps, product);
  return run();
}

/** The admit script's answer as the buyer sees it: a ticket, or the error that says why not. */
async function answer(deps: Deps, req: PurchaseRequest, productId: number, result: AdmitResult): Promise<Admission> {
  if (result.outcome === 'created') {
    const now = new Date().toISOString();
    const { ticketId, position, drawAtMs } = result;
    const speed = { ratePerSecond: result.ratePerSecond, measuredPerSecond: result.measuredPerSecond };
    const eta = position !== null ? etaMs(position, speed) : preQueueEtaMs((drawAtMs ?? 0) - result.nowMs, result.preQueued, speed);
    return {
      created: true,
      ticket: {
        ticketId, productId, status: 'queued', ...(position !== null && { position }), ...(eta !== undefined && { etaMs: eta }),
        ...(drawAtMs !== null && { drawAt: new Date(drawAtMs).toISOString() }),
        createdAt: now, updatedAt: now, pollAfterMs: pollAfterMs('queued', eta),
      },
    };
  }
  if (result.outcome === 'existing') return { created: false, ticket: await readTicket(deps, result.ticketId, req.userId) };
  if (result.outcome === 'sold_out') deps.soldOut.confirm(productId, () => isFinallySoldOut(deps, productId));
  throw scriptError(result) ?? new Error(`admit.lua answered ${result.outcome}`);
}

/** Nothing available, nothing held, nothing queued: no ticket can be made or come back. */
async function isFinallySoldOut(deps: Deps, productId: number): Promise<boolean> {
  const [{ values }] = await deps.productState.fields([productId], ['available', 'reserved', 't_queued']);
  return values.every((v) => v === '0');
}
