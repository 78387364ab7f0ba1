import type { ChildProcess } from 'node:child_process';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfig } from '../shared/config.ts';
import { closeDeps, createDeps } from '../shared/deps.ts';
import { connectOrm, migrate } from '../shared/db/orm.ts';
import { stats } from '../shared/domain/products/manage.ts';
import { CpuMeter, pidOf, startNode, stop, waitHttp } from './processes.ts';
import { nodeArgs } from './settings.ts';
import { aofBytes, commandCalls, deleteKeysOf, serverPid } from './redis-target.ts';
import { startRedis } from './redis-server.ts';

/**
 * What the workers-only cost benches share (bench/settle-cost.ts, bench/trickle-cost.ts):
 * their flags (`options` plus --redis-url, --production-redis, --mysql-url, --metrics-port,
 * --out, --profile),
 * a database and key prefix of their own named after `name` and the pid, the drop bench's
 * worker settings, the door's own deps to admit with, a workers process (workers/main.ts as
 * `start:workers` runs it), and the CPU and Redis commands per sale from `measure()` on.
 */
export async function openWorkersBench(name: string, metricsPort: string, options: ParseArgsOptionsConfig) {
  const { values } = parseArgs({ options: {
    ...options,
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    /** Instead of --redis-url: a redis-server of the bench's own on port 3962, configured as the drop bench's (AOF every second). */
    'production-redis': { type: 'boolean', default: false },
    'mysql-url': { type: 'string', default: 'mysql://root@127.0.0.1:3306' },
    'metrics-port': { type: 'string', default: metricsPort },
    out: { type: 'string', default: '/tmp' },
    /** Write a V8 CPU profile of the workers to <out>/profiles. */
    profile: { type: 'boolean', default: false },
    /** Also print which commands Redis ran per sale (INFO commandstats). */
    commands: { type: 'boolean', default: false },
  } });
  const flags = values as Record<string, string | boolean | undefined>;
  const out = String(flags.out);
  const port = String(flags['metrics-port']);
  const database = `${name.replace(/-/g, '_')}_${process.pid}`;
  const ownRedis = flags['production-redis'] ? await startRedis(3962) : undefined;
  const env = {
    NODE_ENV: 'production', REDIS_URL: ownRedis?.url ?? String(flags['redis-url']), DATABASE_URL: `${String(flags['mysql-url'])}/${database}`,
    JWT_SECRET: `${name}-secret-0123456789`, ADMIN_PASSWORD: `${name}-admin`,
    KEY_PREFIX: `${name.replace(/-/g, '')}-${process.pid}`, METRICS_PORT: port, LOG_LEVEL: 'warn',
    // The drop bench's worker settings (bench/settings.ts, systemEnv with the defaults).
    ADMISSION_RATE_PER_SEC: '100000', STOCK_CONCURRENCY: '16', PAYMENT_CONCURRENCY: '256', PAYMENT_LATENCY_MS: '30',
    PAYMENT_HOLD_MS: '120000', PAYMENT_RATE_PER_SEC: '100000', USER_RATE_LIMIT_PER_SEC: '10',
  };
  const config = loadConfig({ ...process.env, ...env });
  const orm = await connectOrm(config.DATABASE_URL);
  await migrate(orm);
  await orm.close();
  const deps = await createDeps(config, name, 'producer');
  const redis = new Redis(env.REDIS_URL);
  const redisPid = await serverPid(redis);
  let workers: ChildProcess | undefined;

  return {
    flags, deps,
    /** Starts the workers process and waits until it serves its metrics. */
    async startWorkers(): Promise<void> {
      workers = startNode('workers/main.ts', {
        env, nodeArgs: nodeArgs({ profile: Boolean(flags.profile), outDir: out }, 'workers/main.ts'), logFile: `${out}/${name}-workers.log`,
      });
      await waitHttp(Number(port), '/metrics', workers);
    },
    /** Starts counting; the function it returns gives the seconds since and the cost per sale of `sales`. */
    async measure() {
      const calls0 = await commandCalls(redis);
      const aof0 = await aofBytes(redis);
      const meter = new CpuMeter({ workers: workers?.pid, redis: redisPid, mysql: pidOf('mariadbd', 'mysqld') }).start();
      const t0 = performance.now();
      return async (sales: number) => {
        const seconds = (performance.now() - t0) / 1000;
        const cores = meter.stop();
        const aof1 = await aofBytes(redis);
        const calls = [...(await commandCalls(redis))].map(([command, count]) => [command, count - (calls0.get(command) ?? 0)] as const);
        const commands = calls.reduce((sum, [, count]) => sum + count, 0);
        const breakdown = calls.map(([command, count]) => [command, count / sales] as const)
          .filter(([, perSale]) => perSale >= 0.01).sort((a, b) => b[1] - a[1])
          .map(([command, perSale]) => `${command} ${perSale.toFixed(2)}`).join(', ');
        // A rewrite during the run starts the file again: then the bytes are not known.
        const aof = aof0 && aof1 && aof1.rewrites === aof0.rewrites ? `${((aof1.size - aof0.size) / sales).toFixed(0)} B` : 'not known (rewritten)';
        const per = (process: string) => ((cores[process] * seconds * 1e6) / sales).toFixed(0);
        return {
          seconds, workersCores: cores.workers,
          text: `CPU per sale: workers ${per('workers')} µs, Redis ${per('redis')} µs, MariaDB ${per('mysql')} µs; `
            + `commands Redis ran per sale ${(commands / sales).toFixed(1)}`
            + (aof0 === null ? '' : `; AOF ${aof} per sale`)
            + (flags.commands ? `\nper sale: ${breakdown}` : ''),
        };
      };
    },
    /** Waits until `count` tickets of the product are paid, polling every `everyMs`; throws after `timeoutMs`. */
    async paid(productId: number, count: number, everyMs: number, timeoutMs: number): Promise<void> {
      const until = performance.now() + timeoutMs;
      let paid = 0;
      while (paid < count) {
        await new Promise((r) => setTimeout(r, everyMs));
        paid = Number((await stats(deps, productId)).tickets.paid ?? 0);
        if (performance.now() > until) throw new Error(`only ${paid} of ${count} paid after ${timeoutMs / 1000} s`);
      }
    },
    async close(): Promise<void> {
      await stop(workers);
      await deps.orm.em.getConnection().execute(`drop database if exists ${database}`, [], 'run');
      await closeDeps(deps);
      await deleteKeysOf(redis, config.KEY_PREFIX);
      redis.disconnect();
      await ownRedis?.stop();
    },
  };
}
