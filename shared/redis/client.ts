import { Redis, type RedisOptions } from 'ioredis';

/**
 * `producer`: fails fast while Redis is away (the API answers 503 instead of queueing
 * commands in memory), and auto-pipelines: the commands of the requests handled in one
 * event-loop turn leave in one write, which saves CPU in the API and in Redis.
 * `producer-queues`: the producer's connection for BullMQ's queues; fails fast too, but
 * is not auto-pipelined: ioredis builds a `Pipeline` for every auto-pipelined write and
 * copies into it every script defined on the connection, BullMQ's many included, while
 * BullMQ's adds are few (one per batch of tickets) and gain nothing from it.
 * `worker`: waits forever, as BullMQ workers must; not auto-pipelined, because a BullMQ
 * worker then waits for one batch to return before it sends the next.
 * What each choice measured: bench/README.md, "Measured choices in the code".
 */
export type RedisRole = 'producer' | 'producer-queues' | 'worker';

export function createRedis(url: string, role: RedisRole, name?: string, commandTimeoutMs?: number): Redis {
  // A producer's command that Redis does not answer in time fails (503), so no request
  // waits on a hung Redis for longer than that.
  const opts: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, connectionName: name }
      : { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: name, enableAutoPipelining: role === 'producer', commandTimeout: commandTimeoutMs };
  return new Redis(url, opts);
}

/** Resolves once the client is connected (producers cannot send before that). */
export async function whenReady(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const onReady = () => { cleanup(); resolve(); };
    const onEnd = () => { cleanup(); reject(new Error('Redis connection ended before it was ready')); };
    const cleanup = () => { redis.off('ready', onReady); redis.off('end', onEnd); };
    redis.once('ready', onReady);
    redis.once('end', onEnd);
  });
}
