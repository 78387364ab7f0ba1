import type { Deps } from '../shared/deps.ts';
import { overview, type QueueDepth } from '../shared/domain/reporting/overview.ts';
import type { TicketStatus } from '../shared/domain/tickets/statuses.ts';
import { etaMs } from '../shared/domain/tickets/read-ticket.ts';

/** One product on the dashboard: its live numbers and its rates since the last frame. */
export type ProductFrame = {
  id: number;
  name: string;
  type: 'reserve' | 'general';
  price: number;
  currency: string;
  opensAt: string | null;
  /** When its pre-queue opens (null: none), and how many tickets it took. */
  queueOpensAt: string | null;
  preQueued: number;
  /** The ETA of the last ticket in the queue (ms from this frame; null with none queued or no rate). */
  lastEtaMs: number | null;
  /** The admission rate measured while the queue was backed up (0 until measured). */
  measuredPerSecond: number;
  perUserLimit: number;
  paused: boolean;
  ratePerSecond: number | null;
  stock: { total: number; available: number; reserved: number; sold: number };
  tickets: Record<TicketStatus, number>;
  admitted: number;
  queueName: string;
  queue: QueueDepth;
  /** Its payment queue (a drop's own; general products share one). */
  paymentQueueName: string;
  payments: QueueDepth;
  /**
   * Per second, since the previous frame: tickets admitted at the door, tickets that left
   * the queue (the stock worker's pace, held to the admission rate), paid and failed ones.
   */
  rates: { admitted: number; processed: number; paid: number; failed: number };
};

const NO_JOBS: QueueDepth = { waiting: 0, active: 0, delayed: 0, failed: 0 };

export type Frame = { t: number; products: ProductFrame[]; queues: Record<string, QueueDepth> };

/** A point of a product's small charts. */
export type Point = { t: number; depth: number; admitted: number; processed: number; paid: number; failed: number };

export type Hello = { intervalMs: number; frame: Frame | null; history: Record<number, Point[]> };

type Listener = (event: 'frame' | 'problem', data: unknown) => void;

const failedOf = (t: Record<TicketStatus, number>) => t.payment_failed + t.expired;

/**
 * Running drops first (latest opened on top), then upcoming ones (soonest on top),
 * general products, and drops that are over.
 */
function sortKey(p: ProductFrame, nowMs: number): [number, number] {
  const opensAt = p.opensAt ? Date.parse(p.opensAt) : 0;
  if (p.type === 'general') return [2, p.id];
  if (p.stock.total > 0 && p.stock.available + p.stock.reserved === 0 && p.tickets.queued === 0) return [3, -p.id];
  return opensAt > nowMs ? [1, opensAt] : [0, -opensAt];
}

const byKey = (nowMs: number) => (a: ProductFrame, b: ProductFrame) => {
  const [x, y] = [sortKey(a, nowMs), sortKey(b, nowMs)];
  return x[0] - y[0] || x[1] - y[1] || a.id - b.id;
};

/** The wait of the last queued ticket: until the draw (a pre-queue), then its place at the drop's speed. */
function lastEta(p: { tickets: Record<TicketStatus, number>; ratePerSecond: number; measuredPerSecond: number; opensAtMs: number }, nowMs: number): number | null {
  if (p.tickets.queued === 0) return null;
  const wait = etaMs(p.tickets.queued - 1, { ratePerSecond: p.ratePerSecond, measuredPerSecond: p.measuredPerSecond });
  return wait === undefined ? null : wait + Math.max(0, p.opensAtMs - nowMs);
}

/**
 * Samples the live state once a second while at least one dashboard is open, whoever
 * many are open (one sampler per process), and keeps a short history so a page that
 * opens mid-drop draws its charts at once.
 */
export class LiveFeed {
  private readonly deps: Deps;
  private readonly intervalMs: number;
  private readonly historyPoints: number;
  private readonly listeners = new Set<Listener>();
  private readonly history = new Map<number, Point[]>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private last: Frame | null = null;

  constructor(deps: Deps, intervalMs = 1000, historyPoints = 120) {
    this.deps = deps;
    this.intervalMs = intervalMs;
    this.historyPoints = historyPoints;
  }

  /** Starts sampling on the first subscriber, stops after the last; returns the unsubscribe. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      void this.tick();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  hello(): Hello {
    return { intervalMs: this.intervalMs, frame: this.last, history: Object.fromEntries(this.history) };
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const frame = await this.sample();
      this.last = frame;
      for (const listener of this.listeners) listener('frame', frame);
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'dashboard: sampling failed');
      for (const listener of this.listeners) listener('problem', { message: 'Live state is unavailable (Redis does not answer); retrying.' });
    } finally {
      this.busy = false;
    }
  }

  private async sample(): Promise<Frame> {
    const state = await overview(this.deps);
    const previous = new Map(this.last?.products.map((p) => [p.id, p]));
    const dt = this.last ? Math.max(0.001, (state.serverTimeMs - this.last.t) / 1000) : 0;
    const perSecond = (now: number, before: number | undefined) =>
      before === undefined || dt === 0 ? 0 : Math.max(0, now - before) / dt;

    const products: ProductFrame[] = [];
    for (const p of state.products) {
      const meta = await this.deps.catalog.find(p.id);
      const before = previous.get(p.id);
      const frame: ProductFrame = {
        id: p.id,
        name: meta?.name ?? `Product ${p.id}`,
        type: p.type,
        price: (meta?.priceMinor ?? 0) / 100,
        currency: meta?.currency ?? 'USD',
        opensAt: p.type === 'reserve' && p.opensAtMs >= 0 ? new Date(p.opensAtMs).toISOString() : null,
        queueOpensAt: p.type === 'reserve' && p.queueOpensAtMs >= 0 ? new Date(p.queueOpensAtMs).toISOString() : null,
        preQueued: p.preQueued,
        lastEtaMs: lastEta(p, state.serverTimeMs),
        measuredPerSecond: p.measuredPerSecond,
        perUserLimit: p.perUserLimit,
        paused: p.paused,
        ratePerSecond: p.type === 'reserve' ? p.ratePerSecond : null,
        stock: { total: p.total, available: p.available, reserved: p.reserved, sold: p.sold },
        tickets: p.tickets,
        admitted: p.admitted,
        queueName: p.queue,
        queue: state.queues[p.queue] ?? NO_JOBS,
        paymentQueueName: p.paymentQueue,
        payments: state.queues[p.paymentQueue] ?? NO_JOBS,
        rates: {
          admitted: perSecond(p.admitted, before?.admitted),
          processed: perSecond(p.admitted - p.tickets.queued, before && before.admitted - before.tickets.queued),
          paid: perSecond(p.tickets.paid, before?.tickets.paid),
          failed: perSecond(failedOf(p.tickets), before && failedOf(before.tickets)),
        },
      };
      products.push(frame);
      this.remember(frame, state.serverTimeMs);
    }
    products.sort(byKey(state.serverTimeMs));
    return { t: state.serverTimeMs, products, queues: state.queues };
  }

  private remember(p: ProductFrame, t: number): void {
    const points = this.history.get(p.id) ?? [];
    points.push({ t, depth: p.tickets.queued, ...p.rates });
    if (points.length > this.historyPoints) points.splice(0, points.length - this.historyPoints);
    this.history.set(p.id, points);
  }
}
