import type { Config } from './config.ts';
import { connectOrm, type Orm } from './db/orm.ts';
import { EventsRepository } from './db/events.repository.ts';
import { OrdersRepository } from './db/orders.repository.ts';
import { PaymentsRepository } from './db/payments.repository.ts';
import { ProductsRepository } from './db/products.repository.ts';
import { SoldOutMemo } from './domain/admission/sold-out-memo.ts';
import { AdmitCoalescer } from './domain/admission/admit-coalescer.ts';
import { SettleCoalescer } from './domain/payment/settle-coalescer.ts';
import { DoorRefusals } from './domain/admission/door-refusals.ts';
import { Catalog } from './domain/products/catalog.ts';
import { createLogger, type Logger } from './logger.ts';
import { createPaymentProvider } from './payments/create-provider.ts';
import type { PaymentProvider } from './payments/provider.ts';
import { AdmissionBatches } from './queues/admission-batches.ts';
import { Queues } from './queues/queues.ts';
import { settlesWithin } from './deadline.ts';
import { createRedis, whenReady, type RedisClient, type RedisRole } from './redis/client.ts';
import { Keys } from './redis/keys.ts';
import { ProductStore } from './redis/product-store.ts';
import { Scripts } from './redis/scripts.ts';
import { TicketStore } from './redis/ticket-store.ts';

/**
 * Everything a use case needs, wired once per process and passed down. The domain
 * (shared/domain) works through the stores, repositories and queues here; the raw
 * connections are for wiring, health checks and tests.
 */
export type Deps = {
  config: Config;
  logger: Logger;
  /** The main Redis connection; a cluster client with REDIS_CLUSTER_NODES. */
  redis: RedisClient;
  /**
   * The connection BullMQ's queues use: `redis` in workers; in the API a second one (see
   * createRedis). The API awaits every write a job depends on
   * before it adds the job, so the two connections never reorder them.
   */
  queueRedis: RedisClient;
  /** The simulated payment provider's ledger (`redis` unless PAYMENT_SIM_REDIS_URL is set). */
  providerRedis: RedisClient;
  orm: Orm;

  /** Redis: the Lua scripts (typed), tickets, products' live state. */
  keys: Keys;
  scripts: Scripts;
  /** The door's admit scripts, sent a turn's worth per call (AdmitCoalescer). */
  admitter: AdmitCoalescer;
  /** The payment workers' settles, sent a turn's worth per product per call (SettleCoalescer). */
  settler: SettleCoalescer;
  tickets: TicketStore;
  productState: ProductStore;
  /** MySQL: the order ledger, payment records, products. */
  orders: OrdersRepository;
  payments: PaymentsRepository;
  products: ProductsRepository;
  /** MySQL: drops' event logs, drained from Redis (docs/event-log.md). */
  events: EventsRepository;
  /** BullMQ: the queues, and the API's admission jobs, each carrying a batch of tickets. */
  queues: Queues;
  admissions: AdmissionBatches;

  /** Product metadata cached in memory; products known to be finally sold out. */
  catalog: Catalog;
  soldOut: SoldOutMemo;
  /** Refusals answered from memory, counted for the drops' records. */
  refusals: DoorRefusals;
  provider: PaymentProvider;
};

/** Settles per settle.lua call at most: 25 sales are about 400 commands, a fraction of a millisecond of Redis. */
const SETTLE_BATCH = 25;

export async function createDeps(config: Config, service: string, role: 'producer' | 'worker'): Promise<Deps> {
  const logger = createLogger(config.LOG_LEVEL, service);
  const connect = async (r: RedisRole, name: string, url?: string) => {
    const target = url
      ? { url, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS }
      : { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS };
    const client = createRedis(target, r, name);
    client.on('error', (err) => logger.warn({ err: err.message, connection: name }, 'redis connection error'));
    await whenReady(client);
    return client;
  };
  const redis = await connect(role, service);
  const queueRedis = role === 'producer' ? await connect('producer-queues', `${service}-queues`) : redis;
  const providerRedis = config.PAYMENT_SIM_REDIS_URL ? await connect(role, `${service}-payments`, config.PAYMENT_SIM_REDIS_URL) : redis;
  const orm = await connectOrm(config.DATABASE_URL);
  const keys = new Keys(config.KEY_PREFIX);
  const scripts = new Scripts(redis, keys, { holdMs: config.PAYMENT_HOLD_MS, ticketTtlS: config.TICKET_TTL_S });
  const queues = new Queues(queueRedis, config.KEY_PREFIX);
  const products = new ProductsRepository(orm);
  const productState = new ProductStore(redis, keys, scripts);
  const tickets = new TicketStore(redis, keys, scripts);
  return {
    config, logger, redis, queueRedis, providerRedis, orm,
    keys, scripts, admitter: new AdmitCoalescer(scripts, config.API_ADMIT_BATCH), settler: new SettleCoalescer(scripts, SETTLE_BATCH),
    tickets, productState,
    orders: new OrdersRepository(orm), payments: new PaymentsRepository(orm), products, events: new EventsRepository(orm),
    queues, admissions: new AdmissionBatches(queues, logger),
    catalog: new Catalog(products), soldOut: new SoldOutMemo(), refusals: new DoorRefusals(productState), provider: createPaymentProvider(config, providerRedis, keys),
  };
}

/** Closes in order; a step a backend leaves hanging is given up after a few seconds (connections then cut). */
export async function closeDeps(deps: Deps): Promise<void> {
  await settlesWithin(deps.admissions.flush(), CLOSE_STEP_MS);
  await settlesWithin(deps.refusals.flush(), CLOSE_STEP_MS);
  await settlesWithin(deps.queues.close(), CLOSE_STEP_MS);
  await settlesWithin(deps.orm.close(), CLOSE_STEP_MS);
  for (const client of new Set([deps.queueRedis, deps.providerRedis, deps.redis])) {
    if (!(await settlesWithin(client.quit(), CLOSE_STEP_MS))) client.disconnect();
  }
}

const CLOSE_STEP_MS = 5_000;
