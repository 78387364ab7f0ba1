import Koa from 'koa';
import Router from '@koa/router';
import type { Deps } from '../shared/deps.ts';
import { overview } from '../shared/domain/overview.ts';
import { createApiMetrics } from '../shared/metrics.ts';
import { bullBoard } from '../dashboards/bull-board.ts';
import { liveDropRoutes } from '../dashboards/live-drop.ts';
import { httpMetrics } from './middleware/http-metrics.ts';
import { jsonBody } from './middleware/json-body.ts';
import { sameOriginAdmin } from './middleware/same-origin.ts';
import { dropLane } from './middleware/drop-lane.ts';
import { errorHandler } from './middleware/error-handler.ts';
import { requestContext } from './middleware/request-context.ts';
import { adminRoutes } from './routes/admin.routes.ts';
import { healthRoutes } from './routes/health.routes.ts';
import { metricsRoutes } from './routes/metrics.routes.ts';
import { productRoutes } from './routes/products.routes.ts';
import { purchaseRoutes } from './routes/purchases.routes.ts';
import { ticketRoutes } from './routes/tickets.routes.ts';

/** Builds the HTTP API; never listens (tests drive `app.callback()`). */
export function createApp(deps: Deps): Koa {
  const app = new Koa({ proxy: false });
  app.silent = true;
  const metrics = createApiMetrics(() => overview(deps), deps.logger);
  app.use(requestContext(deps.logger));
  app.use(httpMetrics(metrics));
  app.use(errorHandler());
  app.use(dropLane(deps.catalog, deps.config.API_DROP_CONCURRENCY));
  app.use(sameOriginAdmin());
  app.use(bullBoard(deps)); // before the body parser: Bull Board parses its own bodies
  app.use(jsonBody(16 * 1024));
  // One router holding every route: a request is matched once, not once per module.
  const routes = new Router();
  for (const router of [healthRoutes(deps), productRoutes(deps), purchaseRoutes(deps), ticketRoutes(deps), adminRoutes(deps),
    liveDropRoutes(deps), metricsRoutes(metrics)]) {
    routes.use(router.routes());
  }
  app.use(routes.routes());
  app.use(routes.allowedMethods());
  return app;
}
