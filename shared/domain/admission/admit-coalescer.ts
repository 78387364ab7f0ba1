import type { AdmitRequest, AdmitResult, Scripts } from '../../redis/scripts.ts';
import { TurnCoalescer } from '../../turn-coalescer.ts';

/**
 * Sends the admit scripts of one event-loop turn together: one admit.lua call per product
 * for the purchases that reached it in the same turn, at most `max` per call
 * (TurnCoalescer). Under a rush the API reads many purchases per turn; each admit call
 * costs Redis (reading, parsing and running a script call, writing its reply) and the API
 * (a command, a socket write, a reply to parse) about as much again as the commands a
 * ticket needs, so a batch pays that once.
 *
 * Batches stay small so that Redis works on one while the API prepares the next: sending
 * a whole turn's purchases in one call made the API and Redis take turns waiting for each
 * other (bench/README.md, "Measured choices in the code").
 *
 * Each request is decided as if alone, in arrival order (admit.lua).
 */
export class AdmitCoalescer extends TurnCoalescer<AdmitRequest, AdmitResult> {
  constructor(scripts: Scripts, max: number) {
    super((requests) => scripts.admitMany(requests), (r) => r.productId, max);
  }

  admit(request: AdmitRequest): Promise<AdmitResult> {
    return this.add(request);
  }
}
