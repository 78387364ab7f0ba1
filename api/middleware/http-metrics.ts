import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { ApiMetrics } from '../../shared/metrics.ts';

const PURCHASE_ROUTE = '/products/:id/purchases';
const BULL_BOARD = '/admin/queues';

type Layer = { path: string | RegExp; methods: string[] };

/**
 * The route label: the router's matched path (`/products/:id`), never the raw URL, so
 * the series stay few. Bull Board's own routes count as one; anything else is `unmatched`.
 * A request answered before routing (the drop lane reads a slow body, or drops a request
 * whose client left) is matched here, so it counts under its route all the same.
 */
function routeOf(ctx: Context, router: Router): string {
  if (ctx.path === BULL_BOARD || ctx.path.startsWith(`${BULL_BOARD}/`)) return BULL_BOARD;
  const matched = (ctx as unknown as { matched?: Layer[] }).matched ?? router.match(ctx.path, ctx.method).path;
  const layers = matched.filter((l) => l.methods.length > 0);
  const layer = layers.findLast((l) => l.methods.includes(ctx.method)) ?? layers.at(-1);
  return typeof layer?.path === 'string' ? layer.path : 'unmatched';
}

/** What a purchase request came to: `created` (202), `existing` (200), the error code, or `client_gone`. */
function purchaseOutcome(ctx: Context): string {
  if (ctx.respond === false) return 'client_gone';
  if (ctx.status === 202) return 'created';
  if (ctx.status === 200) return 'existing';
  const code = (ctx.body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'string' ? code : String(ctx.status);
}

/**
 * Counts and times every request by method, route and status. Registered outside the
 * error handler so it sees the final status. In-memory only: no Redis on the hot path.
 */
export function httpMetrics(metrics: ApiMetrics, router: Router) {
  return async (ctx: Context, next: Next) => {
    const done = metrics.httpDuration.startTimer();
    metrics.httpInFlight.inc();
    try {
      await next();
    } finally {
      metrics.httpInFlight.dec();
      // 499 (as nginx logs it): the client hung up before its turn in the drop lane.
      const labels = { method: ctx.method, route: routeOf(ctx, router), status: ctx.respond === false ? '499' : String(ctx.status) };
      done(labels);
      metrics.httpRequests.inc(labels);
      if (labels.route === PURCHASE_ROUTE && ctx.method === 'POST') metrics.purchases.inc({ outcome: purchaseOutcome(ctx) });
    }
  };
}
