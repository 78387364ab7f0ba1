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

/** What the stock worker did for an admission job. */
export type AdmissionOutcome = {
  /** Each ticket taken from the head of a queue (any job's), in queue order: its status and the request that admitted it. */
  handled: { ticketId: string; outcome: string; requestId?: string }[];
  /** The job's tickets still waiting to be taken: the admission rate has no tokens yet, or the drop is not open. */
  rest: string[];
  /** How long until they may be (ms). */
  waitMs: number;
  /** The status of each of the job's tickets after the step. */
  statuses: Map<string, string>;
};

/**
 * The stock worker's step for an admission job: tickets are taken from the head of the
 * product's queue (the pre-queue's lottery order, then arrival order) until every ticket
 * of the job has been; each gets a hold on its units, is parked until held units may come
 * back, or ends (sold out, over the per-buyer limit), at the product's admission rate;
 * each new hold then gets its pending order and goes to payment. Which job runs first does
 * not matter: units go in queue order. Safe to repeat at any point.
 */
export async function processAdmissions(deps: Deps, ticketIds: string[]): Promise<AdmissionOutcome> {
  const outcome: AdmissionOutcome = { handled: [], rest: [], waitMs: 0, statuses: new Map() };
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
      for (const id of ids) outcome.statuses.set(id, 'missing');
      continue;
    }
    // The job's tickets go to the script a chunk at a time: a call looks up (and answers
    // the status of) every ticket it is given, so giving it the whole job on every call
    // made each ticket cost a job's worth of lookups (bench/README.md, "A sale in the workers").
    let todo = ids;
    const queued = (id: string) => (outcome.statuses.get(id) ?? 'queued') === 'queued';
    while (todo.length > 0) {
      const chunk = todo.slice(0, RESERVE_CHUNK);
      const part = await reserveChunk(deps, product, chunk);
      outcome.handled.push(...part.handled);
      chunk.forEach((id, i) => outcome.statuses.set(id, part.statuses[i]));
      if (part.left === 0) {
        // None of the chunk is pending any more: on to the next one.
        todo = todo.slice(chunk.length);
      } else if (part.waitMs > 0) {
        outcome.rest.push(...todo.filter(queued));
        outcome.waitMs = Math.max(outcome.waitMs, part.waitMs);
        break;
      } else {
        // The call took its most from the queue's head before reaching all of the chunk.
        todo = [...chunk.filter(queued), ...todo.slice(chunk.length)];
      }
    }
  }
  return outcome;
}

/** One ticket through the stock worker's step (with every ticket ahead of it): its status after it. */
export async function processAdmission(deps: Deps, ticketId: string): Promise<string> {
  const { statuses } = await processAdmissions(deps, [ticketId]);
  return statuses.get(ticketId) ?? 'queued';
}

async function reserveChunk(deps: Deps, product: Product, ticketIds: string[]) {
  const reserve = () => deps.scripts.reserve(product.id, ticketIds, product.type === 'reserve', RESERVE_CHUNK);
  let result: ReserveResult = await reserve();
  if (!result.loaded) {
    // Redis lost the product: rebuild it from the ledger, then decide.
    await loadProduct(deps, product);
    result = await reserve();
    if (!result.loaded) throw new Error(`product ${product.id} is not loaded in Redis`);
  }
  const holds: Hold[] = result.tickets.filter((t) => t.status === 'reserved' && t.hold)
    .map((t) => ({ ticketId: t.ticketId, requestId: t.requestId, hold: t.hold }));
  await fulfilAll(deps, product, holds);
  // Only a call that ended a ticket sweeps: the jobs of tickets a sweep already ended
  // (most of a drop's queue) cost one round trip. The janitor sweeps too.
  if (result.endedSoldOut) await sweepSoldOut(deps, product);
  return {
    handled: result.tickets.map((t) => ({ ticketId: t.ticketId, outcome: t.status, requestId: t.requestId })),
    statuses: result.statuses, left: result.left, waitMs: result.waitMs,
  };
}
