/** How long a process answers `409 sold_out` from memory before asking Redis again. */
const TTL_MS = 500;

/**
 * Products this process has seen truly sold out: nothing available, nothing held and no
 * ticket queued, so no unit can come back and no buyer has a live ticket to be given
 * again (only an operator adding stock changes that). The door then answers
 * `409 sold_out` from memory instead of running the admit script: after a drop sells
 * out that is most of the requests still arriving.
 *
 * Memory is trusted for at most {@link TTL_MS}: another API process sees an operator's
 * new stock that much later; this one at once ({@link forget}). Requests that carry an
 * `Idempotency-Key` always go to Redis, which may hold their earlier ticket.
 */
export class SoldOutMemo {
  private readonly until = new Map<number, number>();
  private readonly checking = new Set<number>();
  private generation = 0;

  has(productId: number): boolean {
    const until = this.until.get(productId);
    return until !== undefined && until > Date.now();
  }

  /**
   * Called after Redis answered `sold_out`: `isFinal` reads whether the sell-out is
   * final (one round trip, at most one at a time per product), and if so it is kept.
   */
  confirm(productId: number, isFinal: () => Promise<boolean>): void {
    if (this.has(productId) || this.checking.has(productId)) return;
    this.checking.add(productId);
    const generation = this.generation;
    isFinal()
      .then((final) => {
        if (final && generation === this.generation) this.until.set(productId, Date.now() + TTL_MS);
      })
      .catch(() => {})
      .finally(() => this.checking.delete(productId));
  }

  /** Stock or limits changed: ask Redis again. */
  forget(productId: number): void {
    this.generation++;
    this.until.delete(productId);
  }
}
