import type { Deps } from '../../deps.ts';
import type { ProductChores } from '../../redis/scripts.ts';

/** Events one drain step moves at most (one multi-row insert). */
const DRAIN_BATCH = 2_000;

/** Whether a drain has anything to move, by what peek.lua counted: events in the log or refusals not yet taken. */
export const needsDrain = (chores: ProductChores) => chores.logged > 0 || chores.refusals > 0;

/**
 * Moves a drop's event log from Redis to MySQL (docs/event-log.md): read the oldest
 * events (and the door's refusal counts, taken), write them (MySQL ignores rows it has),
 * then trim the log up to what MySQL now has. Idempotent and safe to run from several
 * processes at once; a drain that dies midway leaves its events for the next. Returns the
 * number of events written.
 */
export async function drainLog(deps: Pick<Deps, 'scripts' | 'events'>, productId: number, maxBatches = Infinity): Promise<number> {
  let moved = 0;
  for (let i = 0; i < maxBatches; i++) {
    const { events, refusals } = await deps.scripts.drainRead(productId, DRAIN_BATCH);
    await deps.events.addRefusals(productId, refusals);
    if (events.length === 0) break;
    await deps.events.insert(productId, events);
    moved += events.length;
    const left = await deps.scripts.drainTrim(productId, events[events.length - 1].id);
    if (events.length < DRAIN_BATCH || left === 0) break;
  }
  return moved;
}
