import type { Deps } from '../deps.ts';
import type { Product } from '../db/entities/product.entity.ts';
import { DomainError, invalid, notFound } from '../errors.ts';
import { admissionQueueName } from '../queues.ts';
import { newTicketId, pollAfterMs, readTicket, type TicketView } from './tickets.ts';
import { loadProduct } from './fulfilment.ts';

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

/**
 * Admits a purchase into the product's queue, or says why not. The buyer waits for one
 * Redis round trip (the admit script, which records the ticket in the queue); the
 * ticket's admission job follows in a batch (see AdmissionBatches). None once the
 * product is known to be finally sold out; MySQL only on a cold cache.
 */
export async function admit(deps: Deps, req: PurchaseRequest): Promise<Admission> {
  const { catalog } = deps;
  const product = await catalog.find(req.productId);
  if (!product) throw notFound('Product');
  if (!req.idempotencyKey && catalog.soldOut.has(product.id)) throw soldOut();
  const max = deps.config.MAX_ORDER_AMOUNT;
  if (req.quantity * product.priceMinor > max * 100) {
    throw invalid('quantity', `an order may come to at most ${max} ${product.currency}; ${req.quantity} × ${product.priceMinor / 100} is more`);
  }

  const batch = deps.admissions.join(product.id, admissionQueueName(product.type, product.id));
  let reply: AdmitReply;
  try {
    reply = await runAdmit(deps, req, product, batch.id);
  } catch (err) {
    deps.admissions.leave(batch, null);
    throw err;
  }
  deps.admissions.leave(batch, reply[0] === 'created' ? String(reply[1]) : null);
  return answer(deps, req, product.id, reply);
}

type AdmitReply = [string, ...(string | number)[]];

async function runAdmit(deps: Deps, req: PurchaseRequest, product: Product, jobId: string): Promise<AdmitReply> {
  const { config, keys, scripts, catalog } = deps;
  const ticketId = newTicketId(product.id);
  const run = () =>
    scripts.run(
      'admit',
      [
        ...keys.productScriptKeys(product.id),
        keys.ticket(product.id, ticketId),
        keys.idempotency(product.id, req.userId, req.idempotencyKey ?? ''),
        keys.userRate(product.id, req.userId),
      ],
      [
        ticketId, req.userId, req.quantity, req.paymentMethod, req.idempotencyKey ?? '', req.requestId ?? '',
        config.USER_RATE_LIMIT_PER_SEC, config.MAX_QUEUED_PER_PRODUCT, IDEMPOTENCY_TTL_S, jobId,
      ],
    ) as Promise<AdmitReply>;
  const reply = await run();
  if (reply[0] !== 'not_loaded') return reply;
  await loadProduct(deps, product);
  return run();
}

/** The admit script's answer as the buyer sees it: a ticket, or the error that says why not. */
async function answer(deps: Deps, req: PurchaseRequest, productId: number, reply: AdmitReply): Promise<Admission> {
  const { config, catalog } = deps;
  const [outcome, a, b] = reply;
  switch (outcome) {
    case 'created': {
      const now = new Date().toISOString();
      const position = Number(b);
      return {
        created: true,
        ticket: { ticketId: String(a), productId, status: 'queued', position, createdAt: now, updatedAt: now,
          pollAfterMs: pollAfterMs('queued', position, config.ADMISSION_RATE_PER_SEC) },
      };
    }
    case 'existing':
      return { created: false, ticket: await readTicket(deps, String(a), req.userId) };
    case 'not_open':
      throw new DomainError('not_open', 'This product is not on sale yet.', {
        opensAt: new Date(Number(a)).toISOString(),
        serverTime: new Date(Number(b)).toISOString(),
      });
    case 'paused':
      throw new DomainError('paused', 'Sales of this product are paused; try again shortly.', {}, 5);
    case 'sold_out':
      catalog.soldOut.confirm(productId, () => isFinallySoldOut(deps, productId));
      throw soldOut();
    case 'over_limit':
      throw invalid('quantity', `at most ${a} per buyer, and you already hold ${b}`);
    case 'rate_limited':
      throw new DomainError('rate_limited', 'Too many purchase requests; slow down.', {}, Math.ceil(Number(a) / 1000));
    case 'busy':
      throw new DomainError('busy', 'The queue for this product is full; try again shortly.', {}, 2);
    default:
      throw new Error(`admit script answered ${String(outcome)}`);
  }
}

const soldOut = () => new DomainError('sold_out', 'This product is sold out.');

/** Nothing available, nothing held, nothing queued: no ticket can be made or come back. */
async function isFinallySoldOut(deps: Deps, productId: number): Promise<boolean> {
  const values = await deps.redis.hmget(deps.keys.product(productId).product, 'available', 'reserved', 't_queued');
  return values.every((v) => v === '0');
}
