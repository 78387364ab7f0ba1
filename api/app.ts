import Koa from 'koa';
import type Router from '@koa/router';
import type { Deps } from '../shared/deps.ts';
import { DomainError } from '../shared/errors.ts';
import { overview } from '../shared/domain/reporting/overview.ts';
import { createApiMetrics } from '../shared/metrics.ts';
import { bullBoard } from '../dashboards/bull-board.ts';
import { adminGuard } from './middleware/admin-guard.ts';
import { httpMetrics } from './middleware/http-metrics.ts';
import { jsonBody } from './middleware/json-body.ts';
import { dropLane } from './middleware/drop-lane.ts';
import { Lane } from './middleware/lane.ts';
import { errorHandler } from './middleware/error-handler.ts';
import { requestContext } from './middleware/request-context.ts';
import { adminRoutes } from './routes/admin.routes.ts';
import { dashboardRoutes } from './routes/dashboard.routes.ts';
import { healthRoutes } from './routes/health.routes.ts';
import { metricsRoutes } from './routes/metrics.routes.ts';
import { productRoutes } from './routes/products.routes.ts';
import { purchaseRoutes } from './routes/purchases.routes.ts';
import { ticketRoutes } from './routes/tickets.routes.ts';
import { newRouter } from './router.ts';
import { purchaseDoor, type Door } from './purchase-door.ts';

/** Largest JSON request body, once decoded. */
const BODY_LIMIT = 16 * 1024;

export type App = Koa & {
  /** Every route of the API (Bull Board's are its own, under /admin/queues). */
  router: Router;
  /** The drop lane of this process. */
  lane: Lane;
  /** Purchases of drops in their usual shape, answered without Koa (api/purchase-door.ts). */
  door: Door;
};

/** Builds the HTTP API; never listens (see api/server.ts). */
export function createApp(deps: Deps): App {
  const app = new Koa({ proxy: false });
  app.silent = true;
  const { config } = deps;
  const lane = new Lane({ capacity: config.API_DROP_CONCURRENCY, waitMs: config.API_LANE_WAIT_MS, holdMs: config.API_LANE_HOLD_MS });
  const metrics = createApiMetrics(() => overview(deps), deps.logger, lane);
  // One router holding every route: a request is matched once, not once per module.
  const routes = newRouter();
  app.use(requestContext(deps.logger));
  app.use(httpMetrics(metrics, routes));
  app.use(errorHandler());
  app.use(adminGuard(config));
  app.use(dropLane(lane, deps.catalog, BODY_LIMIT));
  app.use(bullBoard(deps)); // before the routes: Bull Board parses its own bodies
  routes.use(jsonBody(BODY_LIMIT)); // runs only for a matched route, before its own middleware
  for (const router of [healthRoutes(deps, lane), productRoutes(deps), purchaseRoutes(deps), ticketRoutes(deps),
    adminRoutes(deps), dashboardRoutes(deps), metricsRoutes(metrics)]) {
    routes.use(router.routes());
  }
  app.use(routes.routes());
  app.use(unmatched(routes));
  return Object.assign(app, { router: routes, lane, door: purchaseDoor(deps, lane, metrics, BODY_LIMIT) });
}

/**
 * Reached when no route took the request: `404 not_found` for a path no route has,
 * `405 method_not_allowed` with `Allow` for a method the path does not take (whatever
 * the method, WebDAV's and TRACE included), and the `Allow` list for OPTIONS.
 */
function unmatched(router: Router) {
  return (ctx: Koa.Context) => {
    const allowed = new Set(router.match(ctx.path, ctx.method).path.flatMap((layer) => layer.methods));
    if (allowed.size === 0) throw new DomainError('not_found', 'No such route.');
    allowed.add('OPTIONS');
    const allow = [...allowed];
    ctx.set('Allow', allow.join(', '));
    if (ctx.method === 'OPTIONS') {
      ctx.status = 204;
      return;
    }
    throw new DomainError('method_not_allowed', `${ctx.method} is not allowed on this path.`, { allow });
  };
}
