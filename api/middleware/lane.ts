import { DomainError } from '../../shared/errors.ts';

export type LaneOptions = {
  /** Drop requests worked on at once. */
  capacity: number;
  /** Longest a request waits for a place before it is answered `503 busy`. */
  waitMs: number;
  /** Longest a request holds a place; past it the place is given back (the request runs on). */
  holdMs: number;
};

/** Given back to the lane once the request is done with its place. */
export type Place = { leave(): void };

type Holder = { at: number; released: boolean; overdue: boolean; lane: Lane; leave(): void };
type Waiter = { at: number; resolve: (place: Place) => void; reject: (err: Error) => void; done: boolean };

/** How often deadlines are checked. */
const SWEEP_MS = 250;

/**
 * A lane for drop traffic in each API process, so that general buyers do not feel a
 * drop. A Node process works on every request it has read in one turn of its event
 * loop; under a rush that is every connection's request, and a general purchase waits
 * behind all of them at each step (each Redis reply). In the lane at most `capacity`
 * drop requests (purchases of reserve products and reads of their tickets) are worked
 * on at once, and the places they free are handed on at the next turn: the rest wait
 * (in memory, costing nothing) in arrival order. General requests skip the lane.
 *
 * Nothing a client does can keep a place: a request enters only once its whole body has
 * arrived (see {@link dropLane}), a request waiting longer than `waitMs` is answered
 * `503 busy`, and a place held longer than `holdMs` is given back even if its request
 * never finishes (counted: that is a bug or a hung backend, which `/readyz` reports
 * through {@link stalledForMs}).
 */
export class Lane {
  private readonly opts: LaneOptions;
  private active = 0;
  private freed = 0;
  private readonly waiting: Waiter[] = [];
  private head = 0;
  private readonly holders = new Set<Holder>();
  /** Requests whose place was taken back at their deadline and that have not finished yet. */
  private overdueCount = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Last time a request finished with its place, or the lane became busy. */
  private progressAt = Date.now();
  /** Requests that left the lane without their work: why, and how many. */
  readonly expired = { wait: 0, hold: 0, gone: 0 };

  constructor(opts: LaneOptions) {
    this.opts = opts;
  }

  /** A request whose client hung up before its turn came: it gave its place back unworked. */
  gone(): void {
    this.expired.gone++;
  }

  /** Resolves with a place once one is free, or rejects with `503 busy` after `waitMs`. */
  enter(): Promise<Place> {
    this.skipDone();
    if (this.active < this.capacity && this.head === this.waiting.length) return Promise.resolve(this.take());
    return new Promise<Place>((resolve, reject) => {
      this.waiting.push({ at: Date.now(), resolve, reject, done: false });
      this.arm();
    });
  }

  private get capacity(): number {
    return this.opts.capacity;
  }

  private take(): Holder {
    if (this.active === 0 && this.holders.size === 0) this.progressAt = Date.now();
    this.active++;
    const holder: Holder = { at: Date.now(), released: false, overdue: false, lane: this, leave: leaveHolder };
    this.holders.add(holder);
    this.arm();
    return holder;
  }

  /** @internal called by a holder's leave() (`finished`), and by the hold deadline. */
  release(holder: Holder, finished: boolean): void {
    if (finished) this.progressAt = Date.now();
    if (holder.released) {
      // A request past its deadline finished after all.
      if (finished && holder.overdue) {
        holder.overdue = false;
        this.overdueCount--;
      }
      return;
    }
    holder.released = true;
    this.holders.delete(holder);
    if (!finished) {
      holder.overdue = true;
      this.overdueCount++;
    }
    if (this.freed++ === 0) setImmediate(() => this.handOn());
  }

  private handOn(): void {
    this.active -= this.freed;
    this.freed = 0;
    while (this.active < this.capacity && this.head < this.waiting.length) {
      const waiter = this.waiting[this.head++];
      if (waiter.done) continue;
      waiter.done = true;
      waiter.resolve(this.take());
    }
    this.compact();
  }

  /** Waiters at the head that already left (timed out) are passed over. */
  private skipDone(): void {
    while (this.head < this.waiting.length && this.waiting[this.head].done) this.head++;
    this.compact();
  }

  private compact(): void {
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Deadlines are checked on a timer that runs only while the lane has work. */
  private arm(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  private sweep(): void {
    const now = Date.now();
    // Waiters are in arrival order: the expired ones are at the head.
    while (this.head < this.waiting.length) {
      const waiter = this.waiting[this.head];
      if (!waiter.done && now - waiter.at < this.opts.waitMs) break;
      this.head++;
      if (waiter.done) continue;
      waiter.done = true;
      this.expired.wait++;
      waiter.reject(busy());
    }
    this.skipDone();
    for (const holder of this.holders) {
      if (now - holder.at < this.opts.holdMs) continue;
      this.expired.hold++;
      this.release(holder, false);
    }
    if (this.holders.size === 0 && this.queued === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Requests waiting for a place. */
  get queued(): number {
    let n = 0;
    for (let i = this.head; i < this.waiting.length; i++) if (!this.waiting[i].done) n++;
    return n;
  }

  /** Places held by requests being worked on. */
  get inFlight(): number {
    return this.holders.size;
  }

  /** How long the oldest waiting request has waited (ms), 0 when none waits. */
  oldestWaitMs(now = Date.now()): number {
    for (let i = this.head; i < this.waiting.length; i++) if (!this.waiting[i].done) return now - this.waiting[i].at;
    return 0;
  }

  /** Requests past their hold deadline (their place given back) that are still running. */
  get overdue(): number {
    return this.overdueCount;
  }

  /**
   * How long the lane has held work without a request finishing (ms); 0 when idle. A
   * request whose place was taken back at its deadline still counts as work: giving
   * places back keeps the door open, it does not make a hung process look healthy.
   */
  stalledForMs(now = Date.now()): number {
    return this.holders.size === 0 && this.queued === 0 && this.overdueCount === 0 ? 0 : now - this.progressAt;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

function leaveHolder(this: Holder): void {
  this.lane.release(this, true);
}

const busy = () => new DomainError('busy', 'Too many requests for this drop right now; try again shortly.', {}, 1);
