import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import type { Deps } from '../shared/deps.ts';
import { errorHandler } from './middleware/error-handler.ts';
import { requestContext } from './middleware/request-context.ts';
import { adminRoutes } from './routes/admin.routes.ts';
import { healthRoutes } from './routes/health.routes.ts';
import { productRoutes } from './routes/products.routes.ts';
import { purchaseRoutes } from './routes/purchases.routes.ts';
import { ticketRoutes } from './routes/tickets.routes.ts';

/** Builds the HTTP API; never listens (tests drive `app.callback()`). */
export function createApp(deps: Deps): Koa {
  const app = new Koa({ proxy: false });
  app.silent = true;
  app.use(requestContext(deps.logger));
  app.use(errorHandler());
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '16kb', encoding: 'utf-8' }));
  for (const router of [healthRoutes(deps), productRoutes(deps), purchaseRoutes(deps), ticketRoutes(deps), adminRoutes(deps)]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}
