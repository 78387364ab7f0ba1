import type { Deps } from '../../deps.ts';
import { jobOptions } from '../../queues/queues.ts';
import { endHold } from '../reservation/hand-on.ts';
import { productOfTicket } from '../tickets/ids.ts';

/**
 * The expiry step for a group of holds made together: each hold that ran out returns its
 * units to the next buyer in line (a no-op for a ticket paid or released since, the usual
 * case). A hold that is not due yet (given again since the job was scheduled) gets a job
 * of its own. Returns each ticket's status after it.
 */
export async function processExpiries(deps: Deps, ticketIds: string[]): Promise<string[]> {
  const outcomes: string[] = [];
  for (const ticketId of ticketIds) {
    const productId = productOfTicket(ticketId);
    const product = productId === null ? null : await deps.catalog.find(productId);
    if (!product) {
      outcomes.push('missing');
      continue;
    }
    const { status, deadlineMs } = await deps.tickets.hold(product.id, ticketId);
    if (status !== 'reserved') {
      // Paid or released since (most of a group): the step that ended it synced its order.
      outcomes.push(status ?? 'missing');
      continue;
    }
    if (deadlineMs !== null && deadlineMs > Date.now()) {
      await deps.queues.expiry().add('expire', { tickets: [ticketId] }, jobOptions.expiry(`${ticketId}-${deadlineMs}`, deadlineMs - Date.now()));
      outcomes.push('not_due');
      continue;
    }
    outcomes.push(await endHold(deps, product, ticketId, 'expired', 'hold_expired'));
  }
  return outcomes;
}

/** The expiry step for one ticket's hold; its status after it. */
export async function processExpiry(deps: Deps, ticketId: string): Promise<string> {
  return (await processExpiries(deps, [ticketId]))[0];
}
