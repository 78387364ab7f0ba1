import type { AdmitRequest, AdmitResult, Scripts } from '../../redis/scripts.ts';

type Waiting = { request: AdmitRequest; resolve: (r: AdmitResult) => void; reject: (e: unknown) => void };

/**
 * Sends the admit scripts of one event-loop turn together: one admit.lua call per product
 * for the purchases that reached it in the same turn, at most `max` per call (a full
 * batch leaves at once, the rest when the turn's I/O is done, on `setImmediate`). Under a
 * rush the API reads many purchases per turn; each admit call costs Redis (reading,
 * parsing and running a script call, writing its reply) and the API (a command, a
 * socket write, a reply to parse) about as much again as the commands a ticket needs, so
 * a batch pays that once. A lone purchase goes out at the end of its own turn.
 *
 * Batches stay small so that Redis works on one while the API prepares the next: sending
 * a whole turn's purchases in one call made the API and Redis take turns waiting for each
 * other (bench/README.md, "Measured choices in the code").
 *
 * Each request is decided as if alone, in arrival order (admit.lua); a call that fails
 * (Redis away, a timeout) fails every request in it, as it would have failed each alone.
 */
export class AdmitCoalescer {
  private readonly scripts: Scripts;
  private readonly max: number;
  private readonly open = new Map<number, Waiting[]>();
  private scheduled = false;

  constructor(scripts: Scripts, max: number) {
    this.scripts = scripts;
    this.max = max;
  }

  admit(request: AdmitRequest): Promise<AdmitResult> {
    return new Promise((resolve, reject) => {
      let batch = this.open.get(request.productId);
      if (!batch) {
        batch = [];
        this.open.set(request.productId, batch);
      }
      batch.push({ request, resolve, reject });
      if (batch.length >= this.max) {
        this.open.delete(request.productId);
        this.send(batch);
      } else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batches = [...this.open.values()];
    this.open.clear();
    for (const batch of batches) this.send(batch);
  };

  private send(batch: Waiting[]): void {
    this.scripts.admitMany(batch.map((w) => w.request)).then(
      (results) => {
        for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i]);
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
      },
    );
  }
}
