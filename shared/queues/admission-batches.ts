import type { Logger } from '../logger.ts';
import { randomId } from '../random-ids.ts';
import { jobOptions, type Queues } from './queues.ts';

/** Most tickets one admission job carries. */
export const MAX_BATCH = 100;

type Batch = {
  id: string;
  productId: number;
  queue: string;
  /** Admit scripts sent with this batch's id that have not answered yet. */
  inFlight: number;
  tickets: string[];
  closed: boolean;
  /** Held open for more tickets until its linger is over (see join); only its timer, a full batch or flush sends it. */
  lingering: boolean;
};

/**
 * One admission job per batch of tickets, not per ticket: under a rush a BullMQ job
 * costs more Redis than everything else a ticket needs, so the tickets admitted while a
 * product's previous job add is on its way share the next job (a rush's carry up to
 * MAX_BATCH tickets each), and a new job lingers for more first (see join).
 *
 * A ticket joins its batch before the admit script runs, so the script stores the job id
 * in the ticket. The ticket is the record: once the admit script has written it, it is
 * in the product's queue (and Redis's AOF), and the buyer gets the 202 without waiting for
 * the job add, the trigger that makes a stock worker look at it. A job that never makes
 * it (the process died in between, or Redis refused the add) is found by the janitor
 * through the id on its tickets and added again.
 */
export class AdmissionBatches {
  private readonly queues: Queues;
  private readonly logger: Logger;
  private readonly open = new Map<number, Batch>();
  /** Job adds on their way, per product. */
  private readonly adding = new Map<number, number>();
  private readonly sending = new Set<Promise<void>>();

  constructor(queues: Queues, logger: Logger) {
    this.queues = queues;
    this.logger = logger;
  }

  /**
   * The batch a ticket about to be admitted joins; its id goes into the ticket. With
   * `lingerMs` (GENERAL_ADMISSION_LINGER_MS or DROP_ADMISSION_LINGER_MS) a new batch waits
   * that long for more tickets before it goes, even with no add on its way: buyers who come
   * at a steady pace would otherwise get a job per few tickets, and every step of the
   * workers behind a job (a reserve call, a payment job, an expiry job, one statement per
   * MySQL write) goes in batches that small (bench/README.md, "A sale in the workers").
   * The buyer's 202 does not wait for it, only the sale behind it.
   */
  join(productId: number, queue: string, lingerMs = 0): Batch {
    let batch = this.open.get(productId);
    if (batch && batch.inFlight + batch.tickets.length >= MAX_BATCH) {
      // Full: it goes as soon as its admits have answered, even with another add on its way.
      this.close(batch);
      if (batch.inFlight === 0) this.send(batch);
      batch = undefined;
    }
    if (!batch) {
      const made = newBatch(productId, queue);
      batch = made;
      this.open.set(productId, made);
      if (lingerMs > 0) {
        made.lingering = true;
        setTimeout(() => {
          made.lingering = false;
          if (made.closed || this.adding.get(productId)) return; // closed: its last admit sends it; adding: the add's end does
          this.close(made);
          if (made.inFlight === 0) this.send(made);
        }, lingerMs).unref();
      }
    }
    batch.inFlight++;
    return batch;
  }

  /** The admit script answered: `ticketId` when it created the ticket, null otherwise. */
  leave(batch: Batch, ticketId: string | null): void {
    batch.inFlight--;
    if (ticketId) batch.tickets.push(ticketId);
    // Nothing of this product on its way to the queue: this batch goes as soon as the
    // admits already sent with it have answered. Otherwise it fills until the add returns.
    if (!batch.closed && !batch.lingering && !this.adding.get(batch.productId)) this.close(batch);
    if (batch.closed && batch.inFlight === 0) this.send(batch);
  }

  /** Sends every batch whose admits have answered and waits for all adds (shutdown, tests). */
  async flush(): Promise<void> {
    for (const batch of [...this.open.values()]) {
      this.close(batch);
      if (batch.inFlight === 0) this.send(batch);
    }
    while (this.sending.size) await Promise.all(this.sending);
  }

  private close(batch: Batch): void {
    batch.closed = true;
    if (this.open.get(batch.productId) === batch) this.open.delete(batch.productId);
  }

  private send(batch: Batch): void {
    if (batch.tickets.length === 0) return;
    const { productId } = batch;
    this.adding.set(productId, (this.adding.get(productId) ?? 0) + 1);
    const sent: Promise<void> = this.queues.get(batch.queue).add('admit', { tickets: batch.tickets }, jobOptions.admission(batch.id))
      .then(() => undefined, (err: unknown) => {
        this.logger.error({ jobId: batch.id, tickets: batch.tickets.length, err: (err as Error).message },
          'admission job not added; the janitor adds it once its tickets are overdue');
      })
      .finally(() => {
        this.sending.delete(sent);
        const left = (this.adding.get(productId) ?? 1) - 1;
        if (left > 0) this.adding.set(productId, left);
        else this.adding.delete(productId);
        // The open batch goes now, unless it is lingering: its timer sends it.
        const next = this.open.get(productId);
        if (next && !left && !next.lingering) {
          this.close(next);
          if (next.inFlight === 0) this.send(next);
        }
      });
    this.sending.add(sent);
  }
}

/** Admission job ids: `b<productId>-<random>`, never mistaken for a ticket id. */
function newBatch(productId: number, queue: string): Batch {
  return { id: `b${productId}-${randomId(12)}`, productId, queue, inFlight: 0, tickets: [], closed: false, lingering: false };
}
