import Router from '@koa/router';
import type { Deps } from '../../shared/deps.ts';
import { DomainError } from '../../shared/errors.ts';

/** Liveness (the process answers) and readiness (Redis and MySQL answer). */
export function healthRoutes(deps: Deps) {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const [redis, queueRedis, mysql] = await Promise.allSettled([
      deps.redis.ping(),
      deps.queueRedis.ping(),
      deps.orm.em.getConnection().execute('select 1'),
    ]);
    const checks = { redis: redis.status === 'fulfilled' && queueRedis.status === 'fulfilled', mysql: mysql.status === 'fulfilled' };
    if (!checks.redis || !checks.mysql) {
      throw new DomainError('unavailable', 'Not ready: a backing service does not answer.', { checks }, 1);
    }
    ctx.body = { status: 'ready', checks };
  });
  return router;
}
