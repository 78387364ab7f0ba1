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
 * before its row is committed. `write` answers per item, in the items' order; a failed
 * write rejects every caller in the batch, and their jobs retry. Batches over
 * `maxBatch` items are split, and the parts are written concurrently.
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
      // Starting from a promise turns a write that throws synchronously into a failed batch too.
      Promise.resolve()
        .then(() => this.write(batch.map((w) => w.item)))
        .then(
          (outcomes) => batch.forEach((w, i) => {
            const outcome = outcomes[i];
            if (outcome instanceof Error) w.reject(outcome);
            else w.resolve(outcome);
          }),
          (err: Error) => batch.forEach((w) => w.reject(err)),
        );
    }
  }
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
