import { randomBytes } from 'node:crypto';
import { jobOptions, type Queues } from '../queues.ts';

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
  /** Settles once the batch's job is in the queue (or failed to get there). */
  queued: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
};

/**
 * One admission job per batch of tickets, not per ticket: under a rush a BullMQ job
 * costs more Redis than everything else a ticket needs, so the tickets admitted while a
 * product's previous job add is on its way share the next job (natural batching: a
 * lone buyer's job leaves at once, a rush's carry up to MAX_BATCH tickets each).
 *
 * A ticket joins its batch before the admit script runs, so the script stores the job id
 * in the ticket: the janitor can then tell a ticket whose job never made it to the queue
 * (the process died in between) and add one. The buyer's 202 waits for the job add.
 */
export class AdmissionBatches {
  private readonly queues: Queues;
  private readonly open = new Map<number, Batch>();
  /** Job adds on their way, per product. */
  private readonly adding = new Map<number, number>();

  constructor(queues: Queues) {
    this.queues = queues;
  }

  /** The batch a ticket about to be admitted joins; its id goes into the ticket. */
  join(productId: number, queue: string): Batch {
    let batch = this.open.get(productId);
    if (batch && batch.inFlight + batch.tickets.length >= MAX_BATCH) {
      this.close(batch);
      batch = undefined;
    }
    if (!batch) {
      batch = newBatch(productId, queue);
      this.open.set(productId, batch);
    }
    batch.inFlight++;
    return batch;
  }

  /**
   * The admit script answered: `ticketId` when it created the ticket, null otherwise.
   * For a created ticket, resolves once its job is in the queue.
   */
  leave(batch: Batch, ticketId: string | null): Promise<void> {
    batch.inFlight--;
    if (ticketId) batch.tickets.push(ticketId);
    // Nothing of this product on its way to the queue: this batch goes as soon as the
    // admits already sent with it have answered. Otherwise it fills until the add returns.
    if (!batch.closed && !this.adding.get(batch.productId)) this.close(batch);
    if (batch.closed && batch.inFlight === 0) this.send(batch);
    return ticketId ? batch.queued : Promise.resolve();
  }

  private close(batch: Batch): void {
    batch.closed = true;
    if (this.open.get(batch.productId) === batch) this.open.delete(batch.productId);
  }

  private send(batch: Batch): void {
    if (batch.tickets.length === 0) {
      batch.resolve();
      return;
    }
    const { productId } = batch;
    this.adding.set(productId, (this.adding.get(productId) ?? 0) + 1);
    this.queues.get(batch.queue).add('admit', { tickets: batch.tickets }, jobOptions.admission(batch.id))
      .then(() => batch.resolve(), (err: unknown) => batch.reject(err))
      .finally(() => {
        const left = (this.adding.get(productId) ?? 1) - 1;
        if (left > 0) this.adding.set(productId, left);
        else this.adding.delete(productId);
        const next = this.open.get(productId);
        if (next && !left) {
          this.close(next);
          if (next.inFlight === 0) this.send(next);
        }
      });
  }
}

/** Admission job ids: `b<productId>-<random>`, never mistaken for a ticket id. */
function newBatch(productId: number, queue: string): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const queued = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  queued.catch(() => {}); // every created ticket's request awaits it and sees the error
  const id = `b${productId}-${randomBytes(9).toString('base64url')}`;
  return { id, productId, queue, inFlight: 0, tickets: [], closed: false, queued, resolve, reject };
}
