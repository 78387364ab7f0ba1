type Waiting<R, A> = { request: R; resolve: (a: A) => void; reject: (e: unknown) => void };

/**
 * Sends the requests of one event-loop turn together: one `send` per group (a product)
 * for the requests that reached it in the same turn, at most `max` per call (a full batch
 * leaves at once, the rest when the turn's I/O is done, on `setImmediate`). A lone request
 * goes out at the end of its own turn. `send` answers each request of a batch, in order;
 * a call that fails (Redis away, a timeout) fails every request in it, as it would have
 * failed each alone.
 *
 * What a script call costs besides its commands (the client's command and socket write,
 * Redis reading, parsing and running the call, its reply) is then paid once per batch:
 * see AdmitCoalescer (the door) and SettleCoalescer (the payment worker).
 */
export class TurnCoalescer<R, A> {
  private readonly send: (requests: R[]) => Promise<A[]>;
  private readonly group: (request: R) => number;
  private readonly max: number;
  private readonly open = new Map<number, Waiting<R, A>[]>();
  private scheduled = false;

  constructor(send: (requests: R[]) => Promise<A[]>, group: (request: R) => number, max: number) {
    this.send = send;
    this.group = group;
    this.max = max;
  }

  protected add(request: R): Promise<A> {
    return new Promise((resolve, reject) => {
      const key = this.group(request);
      let batch = this.open.get(key);
      if (!batch) {
        batch = [];
        this.open.set(key, batch);
      }
      batch.push({ request, resolve, reject });
      if (batch.length >= this.max) {
        this.open.delete(key);
        this.dispatch(batch);
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
    for (const batch of batches) this.dispatch(batch);
  };

  private dispatch(batch: Waiting<R, A>[]): void {
    this.send(batch.map((w) => w.request)).then(
      (answers) => {
        for (let i = 0; i < batch.length; i++) batch[i].resolve(answers[i]);
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
      },
    );
  }
}
