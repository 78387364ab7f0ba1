import { Redis, type RedisOptions } from 'ioredis';

/**
 * `producer`: fails fast while Redis is away (the API answers 503 instead of queueing
 * commands in memory). `worker`: waits forever, as BullMQ workers must.
 */
export function createRedis(url: string, role: 'producer' | 'worker', name?: string): Redis {
  const opts: RedisOptions =
    role === 'producer'
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: name }
      : { maxRetriesPerRequest: null, connectionName: name };
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
