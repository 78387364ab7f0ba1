/** Rows per statement; far above what one event-loop turn of a worker produces. */
const MAX_BATCH = 200;

/** What a batch write answers for one item: its result, or the error that item alone gets. */
export type BatchOutcome<R> = R | Error;

type Waiter<T, R> = { item: T; resolve: (result: R) => void; reject: (err: Error) => void };

/**
 * Collects the calls made in the same event-loop turn (concurrent worker jobs) and hands
 * them to `write` together, so MySQL sees one multi-row statement (and one log flush)
 * instead of one autocommitted statement per call.
 *
 * Each caller's promise settles only once `write` has finished, so a job never completes
 * before its row is committed. `write` answers per item, in the items' order. A batch
 * whose write fails is written again one item at a time, so one bad row never fails its
 * neighbours: each caller gets its own item's outcome (a row MySQL can never take fails
 * alone, see {@link isUnstorable}; while MySQL is away every item fails and its job
 * retries). Batches over `maxBatch` items are split, and the parts are written concurrently.
 */
export class Batcher<T, R> {
  private readonly write: (items: T[]) => Promise<BatchOutcome<R>[]>;
  private readonly maxBatch: number;
  private queue: Waiter<T, R>[] = [];
  private scheduled = false;

  constructor(write: (items: T[]) => Promise<BatchOutcome<R>[]>, maxBatch = MAX_BATCH) {
    this.write = write;
    this.maxBatch = maxBatch;
  }

  /** Queues an item for the next batch; settles with its outcome once that batch is written. */
  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.writeSome(batch).catch((err: Error) => {
        if (batch.length === 1) batch[0].reject(err);
        else batch.forEach((w) => this.writeSome([w]).catch((one: Error) => w.reject(one)));
      });
    }
  }

  /** Writes the items and settles their callers with their outcomes; rejects when the write as a whole failed. */
  private async writeSome(batch: Waiter<T, R>[]): Promise<void> {
    // Awaiting inside an async function turns a write that throws synchronously into a rejection too.
    const outcomes = await this.write(batch.map((w) => w.item));
    batch.forEach((w, i) => {
      const outcome = outcomes[i];
      if (outcome instanceof Error) w.reject(outcome);
      else w.resolve(outcome);
    });
  }
}

/**
 * MySQL errors that say a row can never be stored as it is (a value out of range, too
 * long, of the wrong kind, against a constraint): writing it again cannot help, unlike a
 * lost connection or a deadlock.
 */
const UNSTORABLE = new Set([1048, 1264, 1265, 1292, 1366, 1406, 1452, 1690, 3819, 4025]);

export function isUnstorable(err: unknown): boolean {
  return UNSTORABLE.has(Number((err as { errno?: unknown } | null)?.errno));
}

/** One `create(key)` per key object, made on first use (a per-Orm batcher needs no new dependency). */
export function onePer<K extends object, V>(create: (key: K) => V): (key: K) => V {
  const made = new WeakMap<K, V>();
  return (key) => {
    let value = made.get(key);
    if (value === undefined) {
      value = create(key);
      made.set(key, value);
    }
    return value;
  };
}
