import type { Deps } from '../../shared/deps.ts';
import { DomainError } from '../../shared/errors.ts';
import type { Lane } from '../middleware/lane.ts';
import { newRouter } from '../router.ts';
import { pingAll } from '../../shared/redis/client.ts';
import { withDeadline } from '../../shared/deadline.ts';

/**
 * Liveness (the process answers) and readiness: Redis (every master of a cluster) and MySQL answer, and the drop
 * lane is moving. A lane that holds work while no request has finished in it for
 * API_LANE_HOLD_MS is wedged (a bug, or a backend that hangs): the process must look
 * unhealthy so that it gets no traffic and an orchestrator can restart it.
 */
export function healthRoutes(deps: Deps, lane: Lane) {
  const router = newRouter();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    // Every master of a cluster: a drop whose shard is down cannot be sold.
    const [redis, queueRedis, mysql] = await Promise.allSettled([
      within(pingAll(deps.redis)),
      within(pingAll(deps.queueRedis)),
      within(deps.orm.em.getConnection().execute('select 1')),
    ]);
    const stalledForMs = lane.stalledForMs();
    const checks = {
      redis: redis.status === 'fulfilled' && queueRedis.status === 'fulfilled',
      mysql: mysql.status === 'fulfilled',
      lane: stalledForMs < deps.config.API_LANE_HOLD_MS,
    };
    if (!checks.redis || !checks.mysql || !checks.lane) {
      const details = checks.lane ? { checks } : { checks, lane: { stalledForMs, inFlight: lane.inFlight, queued: lane.queued, overdue: lane.overdue } };
      throw new DomainError('unavailable', 'Not ready: a backing service does not answer, or the drop lane is stuck.', details, 1);
    }
    ctx.body = { status: 'ready', checks };
  });
  return router;
}

/** A check that has not answered in this time has failed: a probe must not hang on a hung backend. */
const CHECK_MS = 2_000;

const within = <T>(check: Promise<T>): Promise<T> => withDeadline(check, CHECK_MS, 'check');
