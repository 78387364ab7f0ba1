import type { Context, Next } from 'koa';
import type { Catalog } from '../../shared/domain/catalog.ts';

const PURCHASE = /^\/products\/([1-9][0-9]{0,9})\/purchases$/;
const TICKET = /^\/tickets\/([1-9][0-9]{0,9})-/;

/**
 * A lane for drop traffic in each API process, so that general buyers do not feel a
 * drop. A Node process works on every request it has read in one turn of its event
 * loop; under a rush that is every connection's request, and a general purchase waits
 * behind all of them at each step (reading it, each Redis reply). In the lane at most
 * `capacity` drop requests (purchases of reserve products and reads of their tickets)
 * are worked on at once, and the places they free are handed on at the next turn: the
 * rest wait (in memory, costing nothing) in arrival order. A turn then holds a bounded
 * amount of drop work, and general requests, which skip the lane, get through each
 * turn at once. The rush goes as fast as before: the process is just as busy.
 */
export function dropLane(catalog: Catalog, capacity: number) {
  const lane = new Lane(capacity);
  return async (ctx: Context, next: Next) => {
    if (!isDropRequest(ctx, catalog)) return next();
    await lane.enter();
    try {
      await next();
    } finally {
      lane.leave();
    }
  };
}

function isDropRequest(ctx: Context, catalog: Catalog): boolean {
  const m = ctx.method === 'POST' ? PURCHASE.exec(ctx.path) : ctx.method === 'GET' ? TICKET.exec(ctx.path) : null;
  return m !== null && catalog.typeOf(Number(m[1])) === 'reserve';
}

/** At most `capacity` holders; places freed in one turn are handed on at the next. */
export class Lane {
  private readonly capacity: number;
  private active = 0;
  private freed = 0;
  private readonly waiting: (() => void)[] = [];
  private head = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Resolves once the caller holds a place. */
  enter(): Promise<void> {
    if (this.active < this.capacity && this.head === this.waiting.length) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  leave(): void {
    if (this.freed++ === 0) setImmediate(() => this.handOn());
  }

  private handOn(): void {
    this.active -= this.freed;
    this.freed = 0;
    while (this.active < this.capacity && this.head < this.waiting.length) {
      this.active++;
      this.waiting[this.head++]();
    }
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Requests waiting for a place (for tests and metrics). */
  get queued(): number {
    return this.waiting.length - this.head;
  }
}
