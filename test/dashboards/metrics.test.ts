import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { startWorkers } from '../../workers/main.ts';
import { createDrop, createTestContext, pollUntilTerminal, type TestContext } from '../setup/context.ts';

type Line = Record<string, unknown>;

let ctx: TestContext;
let workers: Awaited<ReturnType<typeof startWorkers>>;
const logs: Line[] = [];
let drop: { id: number };
const REQUEST_ID = 'req-metrics-test-1';

/** The value of one sample: `name{…}` whose labels include all of `labels`; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

const scrape = async (url: string) => {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
};

beforeAll(async () => {
  ctx = await createTestContext('metrics');
  // The workers log through a logger this test reads, and serve /metrics on a free port.
  const logger = pino({ level: 'debug', base: { service: 'workers' } }, { write: (s: string) => void logs.push(JSON.parse(s)) });
  workers = await startWorkers(ctx.config, { ...ctx.deps, logger }, { metricsPort: 0 });
  drop = await createDrop(ctx, 4);
  const buyers = await Promise.all(
    ['pm_card_ok', 'pm_card_ok', 'pm_card_declined', 'pm_card_ok'].map(async (paymentMethod, i) => {
      const token = await ctx.token(`metrics-buyer-${i}`);
      const headers: Record<string, string> = i === 0 ? { 'x-request-id': REQUEST_ID } : {};
      const res = await ctx.http('POST', `/products/${drop.id}/purchases`, { token, body: { paymentMethod }, headers });
      expect(res.status).toBe(202);
      return { ticketId: res.body.ticketId as string, token };
    }),
  );
  const done = await pollUntilTerminal(ctx, buyers);
  expect([...done.values()].map((t) => t.status).sort()).toEqual(['paid', 'paid', 'paid', 'payment_failed']);
  await ctx.http('GET', `/products/${drop.id}`);
  await ctx.http('GET', '/no/such/route');
});

afterAll(async () => {
  await workers?.stop();
  await ctx.close();
});

describe('GET /metrics (API)', () => {
  it('counts and times HTTP requests by method, matched route and status', async () => {
    const text = await scrape(`${ctx.baseUrl}/metrics`);
    const purchase = { method: 'POST', route: '/products/:id/purchases', status: '202' };
    expect(sample(text, 'drop_http_requests_total', purchase)).toBe(4);
    expect(sample(text, 'drop_http_request_duration_seconds_count', purchase)).toBe(4);
    expect(sample(text, 'drop_http_request_duration_seconds_bucket', { ...purchase, le: '+Inf' })).toBe(4);
    expect(sample(text, 'drop_http_requests_total', { method: 'GET', route: '/products/:id', status: '200' })).toBe(1);
    expect(sample(text, 'drop_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(sample(text, 'drop_http_requests_total', { method: 'POST', route: '/admin/products', status: '201' })).toBe(1);
    expect(text).not.toMatch(/route="\/products\/\d/);
    expect(sample(text, 'drop_purchase_requests_total', { outcome: 'created' })).toBe(4);
  });

  it('reads queue depths, stock, ticket outcomes, pause and rate from Redis at scrape time', async () => {
    const text = await scrape(`${ctx.baseUrl}/metrics`);
    const product = String(drop.id);
    expect(sample(text, 'drop_state_up')).toBe(1);
    for (const queue of ['general', `payment-${drop.id}`, 'payment-general', 'expiry', `reserve-${drop.id}`]) {
      for (const state of ['waiting', 'active', 'delayed', 'failed']) {
        expect({ queue, state, value: sample(text, 'drop_queue_jobs', { queue, state }) }).toEqual({ queue, state, value: expect.any(Number) });
      }
    }
    // A declined card is its ticket's outcome, not a failed job.
    expect(sample(text, 'drop_queue_jobs', { queue: `payment-${drop.id}`, state: 'failed' })).toBe(0);
    expect(sample(text, 'drop_stock_units', { product, state: 'sold' })).toBe(3);
    expect(sample(text, 'drop_stock_units', { product, state: 'available' })).toBe(1);
    expect(sample(text, 'drop_stock_units', { product, state: 'reserved' })).toBe(0);
    expect(sample(text, 'drop_stock_capacity_units', { product })).toBe(4);
    expect(sample(text, 'drop_ticket_outcomes_total', { product, status: 'paid' })).toBe(3);
    expect(sample(text, 'drop_ticket_outcomes_total', { product, status: 'payment_failed' })).toBe(1);
    expect(sample(text, 'drop_tickets_open', { product, status: 'queued' })).toBe(0);
    expect(sample(text, 'drop_tickets_admitted_total', { product })).toBe(4);
    expect(sample(text, 'drop_product_paused', { product })).toBe(0);
    expect(sample(text, 'drop_admission_rate_limit_per_second', { product })).toBe(ctx.config.ADMISSION_RATE_PER_SEC);
    expect(text).toMatch(/^# TYPE drop_ticket_outcomes_total counter$/m);
    expect(text).toMatch(/^# TYPE drop_stock_units gauge$/m);
  });

  it('shows a pause at the next scrape', async () => {
    await ctx.http('POST', `/admin/products/${drop.id}/pause`, { admin: true });
    await new Promise((r) => setTimeout(r, 600));
    const text = await scrape(`${ctx.baseUrl}/metrics`);
    expect(sample(text, 'drop_product_paused', { product: String(drop.id) })).toBe(1);
    await ctx.http('POST', `/admin/products/${drop.id}/resume`, { admin: true });
  });
});

describe('GET /metrics (workers, own port)', () => {
  it('serves job wait and processing times, job outcomes and payment results', async () => {
    expect(workers.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const text = await scrape(workers.metricsUrl!);
    const reserve = `reserve-${drop.id}`;
    // The 4 tickets went in one to four admission jobs (a job carries the tickets admitted
    // while the previous add was on its way); job outcomes count each ticket.
    const jobs = sample(text, 'drop_job_wait_seconds_count', { queue: reserve });
    expect(jobs).toBeGreaterThanOrEqual(1);
    expect(jobs).toBeLessThanOrEqual(4);
    expect(sample(text, 'drop_job_wait_seconds_bucket', { queue: reserve, le: '+Inf' })).toBe(jobs);
    expect(sample(text, 'drop_job_processing_seconds_count', { queue: reserve })).toBe(jobs);
    // Holds made together are paid by one job; outcomes count each ticket.
    expect(sample(text, 'drop_job_processing_seconds_count', { queue: `payment-${drop.id}` })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'drop_jobs_total', { queue: reserve, outcome: 'reserved' })).toBe(4);
    expect(sample(text, 'drop_jobs_total', { queue: `payment-${drop.id}`, outcome: 'paid' })).toBe(3);
    expect(sample(text, 'drop_jobs_total', { queue: `payment-${drop.id}`, outcome: 'payment_failed' })).toBe(1);
    expect(sample(text, 'drop_jobs_total', { queue: `payment-${drop.id}`, outcome: 'failed' }) ?? 0).toBe(0);
    expect(sample(text, 'drop_payment_charges_total', { result: 'succeeded' })).toBe(3);
    expect(sample(text, 'drop_payment_charges_total', { result: 'declined' })).toBe(1);
    expect(sample(text, 'drop_payment_charge_duration_seconds_count', { result: 'succeeded' })).toBe(3);
    expect(text).toMatch(/^# TYPE drop_job_wait_seconds histogram$/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect((await fetch(workers.metricsUrl!.replace('/metrics', '/other'))).status).toBe(404);
  });
});

describe('the Grafana dashboard', () => {
  it('queries only series that the API or the workers export', async () => {
    const json = readFileSync(new URL('../../dashboards/grafana/dashboards/drop.json', import.meta.url), 'utf8');
    const used = new Set([...json.matchAll(/\b((?:drop|nodejs|process)_[a-z0-9_]+)/g)].map((m) => m[1].replace(/_(bucket|count|sum)$/, '')));
    const exported = [await scrape(`${ctx.baseUrl}/metrics`), await scrape(workers.metricsUrl!)].join('\n');
    const types = new Set([...exported.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    expect([...used].filter((name) => !types.has(name))).toEqual([]);
    expect(used.size).toBeGreaterThan(15);
  });
});

describe('request ids in logs', () => {
  it('carries the HTTP request id into the logs of every job the request caused', () => {
    const mine = logs.filter((l) => l.requestId === REQUEST_ID);
    const queues = new Set(mine.map((l) => l.queue));
    expect(queues).toEqual(new Set([`reserve-${drop.id}`, `payment-${drop.id}`]));
    for (const line of mine) {
      expect(line).toMatchObject({ service: 'workers', jobId: expect.any(String), ticketId: expect.any(String) });
    }
    expect(mine.filter((l) => l.msg === 'job done').map((l) => l.outcome).sort()).toEqual(['paid', 'reserved']);
  });
});
