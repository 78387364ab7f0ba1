import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { connectOrm, type Orm } from './db/orm.ts';
import { AdmissionBatches } from './domain/admission-batches.ts';
import { Catalog } from './domain/catalog.ts';
import { PendingOrders } from './domain/pending-orders.ts';
import { createLogger, type Logger } from './logger.ts';
import { Queues } from './queues.ts';
import { createRedis, whenReady, type RedisRole } from './redis/client.ts';
import { Keys } from './redis/keys.ts';
import { Scripts } from './redis/scripts.ts';
import { createPaymentProvider } from './payments/create-provider.ts';
import type { PaymentProvider } from './payments/provider.ts';

/** Everything a use case needs, wired once per process and passed down. */
export type Deps = {
  config: Config;
  logger: Logger;
  redis: Redis;
  /**
   * The connection BullMQ's queues use: `redis` in workers; in the API a second one that
   * is not auto-pipelined (see createRedis). The API awaits every write a job depends on
   * before it adds the job, so the two connections never reorder them.
   */
  queueRedis: Redis;
  /** The simulated payment provider's ledger (`redis` unless PAYMENT_SIM_REDIS_URL is set). */
  providerRedis: Redis;
  keys: Keys;
  scripts: Scripts;
  queues: Queues;
  /** The API's admission jobs, each carrying a batch of tickets. */
  admissions: AdmissionBatches;
  orm: Orm;
  catalog: Catalog;
  /** Pending orders created in batches by the stock worker's jobs. */
  orders: PendingOrders;
  payments: PaymentProvider;
};

export async function createDeps(config: Config, service: string, role: 'producer' | 'worker'): Promise<Deps> {
  const logger = createLogger(config.LOG_LEVEL, service);
  const connect = async (r: RedisRole, name: string, url = config.REDIS_URL) => {
    const client = createRedis(url, r, name, config.REDIS_COMMAND_TIMEOUT_MS);
    client.on('error', (err) => logger.warn({ err: err.message, connection: name }, 'redis connection error'));
    await whenReady(client);
    return client;
  };
  const redis = await connect(role, service);
  const queueRedis = role === 'producer' ? await connect('producer-queues', `${service}-queues`) : redis;
  const orm = await connectOrm(config.DATABASE_URL);
  const keys = new Keys(config.KEY_PREFIX);
  const scripts = new Scripts(redis);
  const queues = new Queues(queueRedis, config.KEY_PREFIX);
  const catalog = new Catalog({ config, orm, redis, keys, scripts, queues });
  const providerRedis = config.PAYMENT_SIM_REDIS_URL ? await connect(role, `${service}-payments`, config.PAYMENT_SIM_REDIS_URL) : redis;
  const payments = createPaymentProvider(config, providerRedis, keys);
  const orders = new PendingOrders(orm);
  return { config, logger, redis, queueRedis, providerRedis, keys, scripts, queues, admissions: new AdmissionBatches(queues, logger), orm, catalog, orders, payments };
}

/** Closes in dependency order: admission jobs on their way, queues, then MySQL, then Redis. */
export async function closeDeps(deps: Deps): Promise<void> {
  await deps.admissions.flush();
  await deps.queues.close();
  await deps.orm.close();
  for (const client of new Set([deps.queueRedis, deps.providerRedis, deps.redis])) await client.quit().catch(() => client.disconnect());
}
