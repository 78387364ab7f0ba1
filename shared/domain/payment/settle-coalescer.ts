import type { FreedUnits, Scripts } from '../../redis/scripts.ts';
import { TurnCoalescer } from '../../turn-coalescer.ts';

type SettleRequest = { productId: number; ticketId: string };

/**
 * Sends the settles of one event-loop turn together: one settle.lua call per product for
 * the charges that came back in the same turn, at most `max` per call (TurnCoalescer).
 * A payment job's charges are made together and mostly answer together, so a sale no
 * longer pays a script call of its own (bench/README.md, "A sale in the workers").
 * The tickets are settled in arrival order; the parked tickets a call promoted go with the
 * last ticket it paid (settle.lua), whose caller hands them on.
 */
export class SettleCoalescer extends TurnCoalescer<SettleRequest, FreedUnits> {
  constructor(scripts: Scripts, max: number) {
    super((requests) => scripts.settleMany(requests[0].productId, requests.map((r) => r.ticketId)), (r) => r.productId, max);
  }

  settle(productId: number, ticketId: string): Promise<FreedUnits> {
    return this.add({ productId, ticketId });
  }
}
