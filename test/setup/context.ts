import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { loadConfig, type Config } from '../../shared/config.ts';
import { closeDeps, createDeps, type Deps } from '../../shared/deps.ts';
import { migrate } from '../../shared/db/orm.ts';
import { createRedis, scanKeys, whenReady, type RedisClient } from '../../shared/redis/client.ts';
import { createApp, type App } from '../../api/app.ts';
import { listen } from '../../api/server.ts';
import { startWorkers } from '../../workers/main.ts';
import { settlesWithin } from '../../shared/deadline.ts';

/** The longest one step of a test context's teardown may take before it is reported and left. */
const CLOSE_STEP_MS = 20_000;

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
/** Set by the test runner's cluster pass (scripts/test.ts): the suites run on a Redis Cluster. */
export const REDIS_CLUSTER_NODES = process.env.TEST_REDIS_CLUSTER_NODES || undefined;
export const ON_CLUSTER = REDIS_CLUSTER_NODES !== undefined;

/** A connection of the test's own to the Redis the system uses (one server, or the cluster). */
export function testRedis(): RedisClient {
  return createRedis({ url: REDIS_URL, clusterNodes: REDIS_CLUSTER_NODES }, 'worker', 'test');
}

/** Every key matching `pattern`, on every master. */
export async function keysMatching(redis: RedisClient, pattern: string): Promise<string[]> {
  if (redis.status !== 'ready') await whenReady(redis);
  const found: string[] = [];
  for await (const { keys } of scanKeys(redis, pattern)) found.push(...keys);
  return found;
}

/**
 * A test file's own world: its own database and key prefix (so files run in parallel),
 * real Redis and MariaDB, the API on an ephemeral port and, optionally, the workers.
 */
export type TestContext = {
  config: Config;
  deps: Deps;
  /** The API app (its router lists every route). */
  app: App;
  baseUrl: string;
  env: Record<string, string>;
  token(userId: string, extra?: Record<string, unknown>): Promise<string>;
  http(method: string, path: string, opts?: HttpOptions): Promise<HttpResult>;
  startWorkers(): Promise<void>;
  stopWorkers(): Promise<void>;
  close(): Promise<void>;
};

export type HttpOptions = { token?: string; body?: unknown; raw?: string; headers?: Record<string, string>; admin?: boolean };
export type HttpResult = { status: number; headers: Headers; body: any };

export const ADMIN = { user: 'admin', password: 'test-admin-password' };

/**
 * `role`: the API's deps. `worker` (the default): one set shared with in-process workers.
 * `producer`: as api/main.ts runs it (fail-fast, auto-pipelined, queues on a connection
 * of their own); the workers then get deps of their own, as in a deployment.
 */
export async function createTestContext(
  name: string,
  overrides: Record<string, string> = {},
  { role = 'worker' }: { role?: 'producer' | 'worker' } = {},
): Promise<TestContext> {
  const id = `${name.replace(/[^a-z0-9]/gi, '_')}_${randomBytes(3).toString('hex')}`.toLowerCase();
  const env = {
    NODE_ENV: 'test',
    REDIS_URL,
    ...(REDIS_CLUSTER_NODES && { REDIS_CLUSTER_NODES }),
    DATABASE_URL: `${overrides.TEST_MYSQL_URL ?? MYSQL_URL}/t_${id}`,
    KEY_PREFIX: `t_${id}`,
    JWT_SECRET: 'test-secret-at-least-16-chars',
    ADMIN_USER: ADMIN.user,
    ADMIN_PASSWORD: ADMIN.password,
    LOG_LEVEL: 'silent',
    PAYMENT_LATENCY_MS: '5',
    ...overrides,
  };
  const config = loadConfig(env);
  const deps = await createDeps(config, `test-${name}`, role);
  await migrate(deps.orm);
  const app = createApp(deps);
  const server: Server = await listen(app, config, 0);
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const secret = new TextEncoder().encode(config.JWT_SECRET);
  let workers: Awaited<ReturnType<typeof startWorkers>> | null = null;

  const ctx: TestContext = {
    config,
    deps,
    app,
    baseUrl,
    env,
    token: (userId, extra = {}) =>
      new SignJWT(extra).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuedAt().setExpirationTime('1h').sign(secret),
    async http(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.admin) headers.authorization = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;
      let body: string | undefined = opts.raw;
      if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
      const res = await fetch(baseUrl + path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON: keep the text */
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async startWorkers() {
      workers ??= await startWorkers(config, role === 'worker' ? deps : undefined);
    },
    async stopWorkers() {
      await workers?.stop();
      workers = null;
    },
    async close() {
      // Each step is bounded: a teardown step that hangs (seen once in CI, under load, on the
      // cluster suite) is named on stderr and the rest of the teardown goes on, instead of the
      // suite failing on jest's hook timeout with every test passed and nothing said.
      const step = async (what: string, work: () => Promise<unknown>) => {
        const started = Date.now();
        if (!(await settlesWithin(work(), CLOSE_STEP_MS))) console.warn(`test teardown (${id}): ${what} still running after ${Date.now() - started} ms; going on`);
      };
      await step('stopping the workers', () => ctx.stopWorkers());
      server.closeAllConnections();
      await step('closing the API server', () => new Promise<void>((r) => server.close(() => r())));
      app.lane.close();
      await step('dropping the database', () => deps.orm.em.getConnection().execute(`drop database if exists \`t_${id}\``));
      await step('deleting the keys', () => deleteKeys(config.KEY_PREFIX));
      await step('closing the connections', () => closeDeps(deps));
    },
  };
  return ctx;
}

/** Removes every Redis key of a prefix (one by one: on a cluster they sit in many slots). */
export async function deleteKeys(prefix: string): Promise<void> {
  const redis = testRedis();
  const keys = await keysMatching(redis, `${prefix}:*`);
  for (let i = 0; i < keys.length; i += 1000) {
    await Promise.all(keys.slice(i, i + 1000).map((key) => redis.unlink(key)));
  }
  await redis.quit();
}

/** A reserve product open now (or at `opensAt`) with `stock` units. */
export async function createDrop(ctx: TestContext, stock: number, extra: Record<string, unknown> = {}) {
  const res = await ctx.http('POST', '/admin/products', {
    admin: true,
    body: { name: 'Limited sneaker', price: 120, type: 'reserve', opensAt: new Date(Date.now() - 1000).toISOString(), stock, perUserLimit: 1, ...extra },
  });
  if (res.status !== 201) throw new Error(`create product: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: number };
}

export const TERMINAL = new Set(['paid', 'sold_out', 'payment_failed', 'expired', 'rejected']);

/** Polls tickets until every one is terminal (or the deadline passes); returns final views. */
export async function pollUntilTerminal(
  ctx: TestContext,
  tickets: { ticketId: string; token: string }[],
  deadlineMs = 90_000,
): Promise<Map<string, any>> {
  const done = new Map<string, any>();
  const until = Date.now() + deadlineMs;
  while (done.size < tickets.length && Date.now() < until) {
    const pending = tickets.filter((t) => !done.has(t.ticketId));
    for (let i = 0; i < pending.length; i += 100) {
      await Promise.all(
        pending.slice(i, i + 100).map(async (t) => {
          const res = await ctx.http('GET', `/tickets/${t.ticketId}`, { token: t.token });
          if (res.status !== 200) throw new Error(`poll ${t.ticketId}: ${res.status} ${JSON.stringify(res.body)}`);
          if (TERMINAL.has(res.body.status)) done.set(t.ticketId, res.body);
        }),
      );
    }
    if (done.size < tickets.length) await new Promise((r) => setTimeout(r, 200));
  }
  return done;
}
