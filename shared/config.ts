import { z } from 'zod';

/**
 * Every environment variable the system reads, with its default. This is the only
 * module that touches `process.env`; everything else receives the frozen result.
 */
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);

const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    PORT: int(3000).pipe(z.number().max(65535)),
    METRICS_PORT: int(9464).pipe(z.number().max(65535)),
    REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
    DATABASE_URL: z.url({ protocol: /^mysql$/ }).default('mysql://root@127.0.0.1:3306/drops'),
    /**
     * Seeds of a Redis Cluster (`host:port,host:port,...`): when set, every connection is a
     * cluster client and REDIS_URL only lends its credentials and TLS.
     */
    REDIS_CLUSTER_NODES: z.string().regex(/^[^\s:,]+:\d{1,5}(,[^\s:,]+:\d{1,5})*$/, 'must be host:port seeds separated by commas').optional(),
    /** Redis of the simulated payment provider's ledger; REDIS_URL when unset (a real provider keeps its own). */
    PAYMENT_SIM_REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
    JWT_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    ADMIN_USER: z.string().min(1).default('admin'),
    ADMIN_PASSWORD: z.string().min(1).optional(),
    /** Prefix of every Redis key and BullMQ queue; tests give each file its own. */
    KEY_PREFIX: z.string().regex(/^[a-z0-9_-]+$/i, 'letters, digits, "_" or "-" only').default('drop'),
    /** Stock-worker admissions per second for each reserve product, until changed live. */
    ADMISSION_RATE_PER_SEC: int(1000, 1),
    STOCK_CONCURRENCY: int(16, 1),
    GENERAL_CONCURRENCY: int(8, 1),
    /**
     * How long the API holds a general product's admission job open for more purchases
     * before it goes (0: at once). The 202 does not wait; the sale behind it does.
     */
    GENERAL_ADMISSION_LINGER_MS: int(100),
    /**
     * The same for a drop's admission job. A rush fills a job (100 tickets) long before
     * it; a drop admitted at a steadier pace (a slow door, a long sale) would otherwise
     * send one job per few tickets, and every step behind it would go in small batches.
     */
    DROP_ADMISSION_LINGER_MS: int(50),
    PAYMENT_CONCURRENCY: int(64, 1),
    PAYMENT_RATE_PER_SEC: int(2000, 1),
    PAYMENT_ATTEMPTS: int(8, 1),
    /** A job whose worker stops renewing its lock for this long is taken over by another worker. */
    JOB_LOCK_MS: int(30_000, 500),
    /** How long a reservation may stay unpaid before its stock goes back. */
    PAYMENT_HOLD_MS: int(120_000, 100),
    /** Simulated provider: latency of one charge, and failure rate of unnamed methods. */
    PAYMENT_LATENCY_MS: int(30),
    PAYMENT_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
    /**
     * The largest amount one order may come to, in the product's currency (major units):
     * a purchase whose price × quantity is above it is `422 invalid` at the door. The
     * default is the dearest price a product may have, so one unit of anything can be bought.
     */
    MAX_ORDER_AMOUNT: int(10_000_000, 1),
    /** Purchase requests per user per second before `429 rate_limited`. */
    USER_RATE_LIMIT_PER_SEC: int(10, 1),
    /** Queued tickets per product before `503 busy`. */
    MAX_QUEUED_PER_PRODUCT: int(1_000_000, 1),
    /** Drop requests (reserve purchases, their ticket reads) one API process works on at once. */
    API_DROP_CONCURRENCY: int(32, 1),
    /** Most purchases of one product the API sends to Redis in one admit script call (1: one call each). */
    API_ADMIT_BATCH: int(8, 1),
    /** Longest a drop request waits for a lane place before `503 busy`. */
    API_LANE_WAIT_MS: int(10_000, 1),
    /** Longest a drop request holds a lane place; also how long the lane may go without progress before `/readyz` fails. */
    API_LANE_HOLD_MS: int(10_000, 1),
    /** A request's head and body must arrive within this, or the server answers 408 and closes. */
    HTTP_REQUEST_TIMEOUT_MS: int(10_000, 1),
    /** A request's head must arrive within this. */
    HTTP_HEADERS_TIMEOUT_MS: int(5_000, 1),
    /** How long an idle keep-alive connection stays open. */
    HTTP_KEEP_ALIVE_TIMEOUT_MS: int(65_000, 1),
    /** How long the API waits for one Redis command before answering 503. */
    REDIS_COMMAND_TIMEOUT_MS: int(5_000, 1),
    /**
     * How often the workers' janitor rebuilds products Redis lost, snapshots live counters,
     * settles overdue pending orders and reconciles the provider's charges with the ledger.
     */
    RECONCILE_INTERVAL_MS: int(5_000, 100),
    /**
     * How often the workers drain each drop's event log from Redis to MySQL: after Redis
     * lost its data, at most this much of the log (and of 202s) can be lost.
     */
    EVENT_LOG_DRAIN_MS: int(1_000, 50),
    /** How long a terminal ticket stays readable in Redis. */
    TICKET_TTL_S: int(86_400, 60),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    const db = new URL(env.REDIS_URL).pathname.replace(/^\//, '');
    if (env.REDIS_CLUSTER_NODES && db !== '' && db !== '0') {
      ctx.addIssue({ code: 'custom', path: ['REDIS_URL'], message: `selects database ${db}, which a Redis Cluster cannot (it has database 0 only): drop the /${db}, or unset REDIS_CLUSTER_NODES` });
    }
    if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
      ctx.addIssue({ code: 'custom', path: ['HTTP_HEADERS_TIMEOUT_MS'], message: 'must not exceed HTTP_REQUEST_TIMEOUT_MS' });
    }
    if (env.NODE_ENV === 'production') {
      if (!env.JWT_SECRET) ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'is required in production' });
      if (!env.ADMIN_PASSWORD) ctx.addIssue({ code: 'custom', path: ['ADMIN_PASSWORD'], message: 'is required in production' });
    }
  });

/** The development-only secret; never accepted when NODE_ENV is production. */
export const DEV_JWT_SECRET = 'dev-secret-change-me';

export type Config = Readonly<
  Omit<z.infer<typeof schema>, 'JWT_SECRET' | 'ADMIN_PASSWORD'> & { JWT_SECRET: string; ADMIN_PASSWORD: string }
>;

export class ConfigError extends Error {}

/**
 * Validates the environment once. Throws a {@link ConfigError} whose message names every
 * bad variable, e.g. `PORT must be a number (got "abc")`.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const relevant = Object.fromEntries(
    Object.entries(env).filter(([k, v]) => k in schema.shape && v !== undefined && v !== ''),
  );
  const parsed = schema.safeParse(relevant);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? 'environment');
      const got = relevant[name] === undefined ? '' : ` (got ${JSON.stringify(relevant[name])})`;
      return `${name} ${i.message.replace(/^Invalid input: /, '')}${got}`;
    });
    throw new ConfigError(`Invalid configuration: ${lines.join('; ')}`);
  }
  const c = parsed.data;
  return Object.freeze({
    ...c,
    JWT_SECRET: c.JWT_SECRET ?? DEV_JWT_SECRET,
    ADMIN_PASSWORD: c.ADMIN_PASSWORD ?? 'admin',
  });
}

/** For entry points: load the config or print the sentence and exit. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}
