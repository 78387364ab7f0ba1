import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { QUEUE_STATES, type Overview } from './domain/reporting/overview.ts';
import { TERMINAL_STATUSES, TICKET_STATUSES } from './domain/tickets/statuses.ts';
import type { Logger } from './logger.ts';

/**
 * Every Prometheus series the system exports (dashboards/README.md has the table).
 * Each process builds its own registry (no module-level singletons): the API's holds the
 * HTTP series and the Redis-derived state gauges, the workers' the job and payment series.
 * Nothing here touches Redis per request: state gauges are read at scrape time.
 */
const FAST_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Queue waits during a drop are seconds to minutes: the buckets reach ten minutes. */
const WAIT_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

const OPEN_STATUSES = TICKET_STATUSES.filter((s) => !TERMINAL_STATUSES.has(s));
const OUTCOME_STATUSES = TICKET_STATUSES.filter((s) => TERMINAL_STATUSES.has(s));

function newRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;

/** What the API's drop lane tells about itself (api/middleware/drop-lane.ts). */
export type LaneState = {
  readonly inFlight: number;
  readonly queued: number;
  readonly overdue: number;
  oldestWaitMs(): number;
  stalledForMs(): number;
  readonly expired: Readonly<Record<'wait' | 'hold' | 'gone', number>>;
};

/** The API's series; `readState` is called at most once per scrape for the state gauges. */
export function createApiMetrics(readState: () => Promise<Overview>, logger: Logger, lane: LaneState) {
  const registry = newRegistry();
  const registers = [registry];
  const labelNames = ['method', 'route', 'status'] as const;
  const metrics = {
    registry,
    httpRequests: new Counter({
      name: 'drop_http_requests_total',
      help: 'HTTP requests answered, by method, matched route and status.',
      labelNames, registers,
    }),
    httpDuration: new Histogram({
      name: 'drop_http_request_duration_seconds',
      help: 'Time from request to response headers, by method, matched route and status.',
      labelNames, buckets: FAST_SECONDS, registers,
    }),
    httpInFlight: new Gauge({
      name: 'drop_http_requests_in_flight',
      help: 'HTTP requests this API process has begun and not yet answered (a request whose client went away included, until it settles).',
      registers,
    }),
    purchases: new Counter({
      name: 'drop_purchase_requests_total',
      help: 'POST /products/:id/purchases answers by outcome: created, existing, the error code, or client_gone (hung up while waiting in the drop lane).',
      labelNames: ['outcome'] as const, registers,
    }),
  };
  registerStateMetrics(registry, readState, logger);
  registerLaneMetrics(registry, lane);
  return metrics;
}

/** The drop lane, read at scrape time: how much it holds, how long its oldest waits, what left it early. */
function registerLaneMetrics(registry: Registry, lane: LaneState) {
  const registers = [registry];
  const gauge = (name: string, help: string, value: () => number) =>
    new Gauge({ name, help, registers, collect(this: Gauge) { this.set(value()); } });
  gauge('drop_api_lane_in_flight', 'Drop requests holding a place in this API process\'s lane.', () => lane.inFlight);
  gauge('drop_api_lane_queued', 'Drop requests waiting for a place in the lane.', () => lane.queued);
  gauge('drop_api_lane_overdue', 'Drop requests past API_LANE_HOLD_MS (their place given back) that are still running: a hung backend or a bug.',
    () => lane.overdue);
  gauge('drop_api_lane_oldest_wait_seconds', 'How long the oldest waiting drop request has waited.', () => lane.oldestWaitMs() / 1000);
  gauge('drop_api_lane_stalled_seconds', 'How long the lane has held work without a request finishing (0 when idle or moving).',
    () => lane.stalledForMs() / 1000);
  const left: Counter<'reason'> = new Counter({
    name: 'drop_api_lane_left_total',
    help: 'Drop requests that left the lane early: wait (503 busy after API_LANE_WAIT_MS), hold (place taken back after API_LANE_HOLD_MS), gone (client hung up while waiting).',
    labelNames: ['reason'], registers,
    collect() {
      left.reset();
      for (const reason of ['wait', 'hold', 'gone'] as const) left.inc({ reason }, lane.expired[reason]);
    },
  });
}

/** Gauges (and Redis-kept counters) filled from one {@link Overview} per scrape. */
function registerStateMetrics(registry: Registry, readState: () => Promise<Overview>, logger: Logger) {
  const registers = [registry];
  let last: { at: number; state: Promise<Overview | null> } | null = null;
  const read = () => {
    if (!last || Date.now() - last.at > 500) {
      const state = readState().catch((err: Error) => {
        logger.warn({ err: err.message }, 'metrics: reading state from Redis failed');
        return null;
      });
      last = { at: Date.now(), state };
    }
    return last.state;
  };
  const each = (fill: (s: Overview) => void) =>
    async function collect(this: { reset(): void }) {
      const s = await read();
      this.reset();
      if (s) fill(s);
    };

  const up: Gauge = new Gauge({
    name: 'drop_state_up', help: '1 when this scrape read the live state from Redis, else 0.', registers,
    async collect() { up.set((await read()) ? 1 : 0); },
  });
  const queue: Gauge<'queue' | 'state'> = new Gauge({
    name: 'drop_queue_jobs', help: 'Jobs in each BullMQ queue by state (waiting includes prioritized).',
    labelNames: ['queue', 'state'], registers,
    collect: each((s) => {
      for (const [name, depth] of Object.entries(s.queues)) for (const st of QUEUE_STATES) queue.set({ queue: name, state: st }, depth[st]);
    }),
  });
  const stock: Gauge<'product' | 'state'> = new Gauge({
    name: 'drop_stock_units', help: 'Units of a product by state; available + reserved + sold = capacity.',
    labelNames: ['product', 'state'], registers,
    collect: each((s) => {
      for (const p of s.products) {
        const product = String(p.id);
        stock.set({ product, state: 'available' }, p.available);
        stock.set({ product, state: 'reserved' }, p.reserved);
        stock.set({ product, state: 'sold' }, p.sold);
      }
    }),
  });
  const capacity: Gauge<'product'> = new Gauge({
    name: 'drop_stock_capacity_units', help: 'Total stock of a product (the operator\'s number).',
    labelNames: ['product'], registers,
    collect: each((s) => s.products.forEach((p) => capacity.set({ product: String(p.id) }, p.total))),
  });
  const open: Gauge<'product' | 'status'> = new Gauge({
    name: 'drop_tickets_open', help: 'Tickets not yet terminal, by product and status (queued, reserved).',
    labelNames: ['product', 'status'], registers,
    collect: each((s) => s.products.forEach((p) =>
      OPEN_STATUSES.forEach((status) => open.set({ product: String(p.id), status }, p.tickets[status])))),
  });
  const outcomes: Counter<'product' | 'status'> = new Counter({
    name: 'drop_ticket_outcomes_total', help: 'Tickets that reached a terminal status, by product and status (kept in Redis).',
    labelNames: ['product', 'status'], registers,
    collect: each((s) => s.products.forEach((p) =>
      OUTCOME_STATUSES.forEach((status) => outcomes.inc({ product: String(p.id), status }, Math.max(0, p.tickets[status]))))),
  });
  const admitted: Counter<'product'> = new Counter({
    name: 'drop_tickets_admitted_total', help: 'Tickets admitted at the door (202), by product (kept in Redis).',
    labelNames: ['product'], registers,
    collect: each((s) => s.products.forEach((p) => admitted.inc({ product: String(p.id) }, Math.max(0, p.admitted)))),
  });
  const paused: Gauge<'product'> = new Gauge({
    name: 'drop_product_paused', help: '1 while admission of a product is paused.',
    labelNames: ['product'], registers,
    collect: each((s) => s.products.forEach((p) => paused.set({ product: String(p.id) }, p.paused ? 1 : 0))),
  });
  const rate: Gauge<'product'> = new Gauge({
    name: 'drop_admission_rate_limit_per_second', help: 'Stock-worker admissions per second allowed for a reserve product.',
    labelNames: ['product'], registers,
    collect: each((s) => s.products.filter((p) => p.type === 'reserve')
      .forEach((p) => rate.set({ product: String(p.id) }, p.ratePerSecond))),
  });
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** The workers' series: job waits, processing times and outcomes, payment results. */
export function createWorkerMetrics() {
  const registry = newRegistry();
  const registers = [registry];
  return {
    registry,
    jobWait: new Histogram({
      name: 'drop_job_wait_seconds',
      help: 'Time a job waited in its queue before its first attempt started (delays excluded).',
      labelNames: ['queue'] as const, buckets: WAIT_SECONDS, registers,
    }),
    jobProcessing: new Histogram({
      name: 'drop_job_processing_seconds',
      help: 'Time one attempt of a job took, by queue.',
      labelNames: ['queue'] as const, buckets: FAST_SECONDS, registers,
    }),
    jobs: new Counter({
      name: 'drop_jobs_total',
      help: 'Job attempts by queue and outcome: the step\'s result (reserved, paid, sold_out, ...), retried or failed.',
      labelNames: ['queue', 'outcome'] as const, registers,
    }),
    charges: new Counter({
      name: 'drop_payment_charges_total',
      help: 'Charges sent to the payment provider, by result: succeeded, declined or error (transient, retried).',
      labelNames: ['result'] as const, registers,
    }),
    chargeDuration: new Histogram({
      name: 'drop_payment_charge_duration_seconds',
      help: 'Payment provider latency of one charge, by result.',
      labelNames: ['result'] as const, buckets: FAST_SECONDS, registers,
    }),
    refunds: new Counter({
      name: 'drop_payment_refunds_total',
      help: 'Refunds of charges on tickets that ended without a sale (a late answer, a job taken over after its hold expired, the payment reconciliation).',
      registers,
    }),
  };
}
