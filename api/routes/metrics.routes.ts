import { newRouter } from '../router.ts';
import type { ApiMetrics } from '../../shared/metrics.ts';

/** Prometheus text for scrapers; state gauges are read from Redis at scrape time. */
export function metricsRoutes(metrics: ApiMetrics) {
  const router = newRouter();
  router.get('/metrics', async (ctx) => {
    ctx.set('Content-Type', metrics.registry.contentType);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}
