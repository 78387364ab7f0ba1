import type { Deps } from '../../deps.ts';
import type { Product } from '../../db/entities/product.entity.ts';
import type { ReserveResult } from '../../redis/scripts.ts';
import { loadProduct } from '../products/load.ts';
import { productOfTicket } from '../tickets/ids.ts';
import { fulfilAll, sweepSoldOut, type Hold } from './hand-on.ts';

/**
 * Tickets one reserve call looks at, at most: a Lua script blocks Redis for everyone while
 * it runs, so a big admission job goes in calls of a fraction of a millisecond each.
 */
const RESERVE_CHUNK = 25;

/** What the stock worker did with an admission job's tickets. */
export type AdmissionOutcome = {
  /** Each ticket handled, in the job's order: its status and the request that admitted it. */
  handled: { ticketId: string; outcome: string; requestId?: string }[];
  /** Tickets left for later: the product's admission rate had no tokens for them. */
  rest: string[];
  /** How long until the rate has tokens for them (ms). */
  waitMs: number;
};

/**
 * The stock worker's step for an admission job: in queue order, each ticket gets a hold
 * on its units, is parked until held units may come back, or ends (sold out, over the
 * per-buyer limit), at the product's admission rate; each new hold then gets its pending
 * order and goes to payment. Safe to repeat at any point.
 */
export async function processAdmissions(deps: Deps, ticketIds: string[]): Promise<AdmissionOutcome> {
  const outcome: AdmissionOutcome = { handled: [], rest: [], waitMs: 0 };
  // A batch holds one product's tickets; grouping keeps a malformed job from mixing them.
  const byProduct = new Map<number, string[]>();
  for (const id of ticketIds) {
    const productId = productOfTicket(id) ?? 0;
    byProduct.set(productId, [...(byProduct.get(productId) ?? []), id]);
  }
  for (const [productId, ids] of byProduct) {
    const product = productId ? await deps.catalog.find(productId) : null;
    if (!product) {
      outcome.handled.push(...ids.map((ticketId) => ({ ticketId, outcome: 'missing' })));
      continue;
    }
    for (let i = 0; i < ids.length; i += RESERVE_CHUNK) {
      const part = await reserveChunk(deps, product, ids.slice(i, i + RESERVE_CHUNK));
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

/** One ticket through the stock worker's step (a batch of one); its status after it. */
export async function processAdmission(deps: Deps, ticketId: string): Promise<string> {
  const { handled } = await processAdmissions(deps, [ticketId]);
  return handled[0]?.outcome ?? 'queued';
}

async function reserveChunk(deps: Deps, product: Product, ticketIds: string[]): Promise<AdmissionOutcome> {
  const reserve = () => deps.scripts.reserve(product.id, ticketIds, product.type === 'reserve');
  let result: ReserveResult = await reserve();
  if (!result.loaded) {
    // Redis lost the product: rebuild it from the ledger, then decide.
    await loadProduct(deps, product);
    result = await reserve();
    if (!result.loaded) throw new Error(`product ${product.id} is not loaded in Redis`);
  }
  const holds: Hold[] = result.tickets.filter((t) => t.status === 'reserved')
    .map((t) => ({ ticketId: t.ticketId, requestId: t.requestId, hold: t.hold }));
  await fulfilAll(deps, product, holds);
  // Only a call that ended a ticket sweeps: the jobs of tickets a sweep already ended
  // (most of a drop's queue) cost one round trip. The janitor sweeps too.
  if (result.endedSoldOut) await sweepSoldOut(deps, product);
  return {
    handled: result.tickets.map((t) => ({ ticketId: t.ticketId, outcome: t.status, requestId: t.requestId })),
    rest: ticketIds.slice(result.tickets.length),
    waitMs: result.waitMs,
  };
}
