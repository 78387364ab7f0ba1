/**
 * What a sale costs the workers when buyers come one at a time, as general buyers do (the
 * shop, 50/s in the drop bench): a workers process (workers/main.ts, as `start:workers`
 * runs it) and a general product; one purchase through the door's own `admit` every
 * 1/`--rate` s until `--sales` are paid. Prints the workers', Redis's and MariaDB's CPU per
 * sale and the commands Redis ran per sale (calls inside scripts included), from the first
 * purchase to the last sale. bench/settle-cost.ts measures the same with the queue full,
 * as in a drop; here every step of a sale is a batch of one.
 *   npx node bench/trickle-cost.ts [--rate 50] [--sales 1000] [--profile --out /tmp/trickle]
 */
import type { ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfig } from '../shared/config.ts';
import { closeDeps, createDeps } from '../shared/deps.ts';
import { connectOrm, migrate } from '../shared/db/orm.ts';
import { createProduct, stats } from '../shared/domain/products/manage.ts';
import { admit } from '../shared/domain/admission/admit.ts';
import { CpuMeter, pidOf, startNode, stop, waitHttp } from './processes.ts';
import { nodeArgs, workersBenchEnv } from './settings.ts';
import { commandsProcessed, deleteKeysOf, serverPid } from './redis-target.ts';

const { values } = parseArgs({ options: {
  rate: { type: 'string', default: '50' },
  sales: { type: 'string', default: '1000' },
  'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
  'mysql-url': { type: 'string', default: 'mysql://root@127.0.0.1:3306' },
  'metrics-port': { type: 'string', default: '3961' },
  out: { type: 'string', default: '/tmp' },
  /** Write a V8 CPU profile of the workers to <out>/profiles. */
  profile: { type: 'boolean', default: false },
} });
const rate = Number(values.rate);
const sales = Number(values.sales);
const env = workersBenchEnv('trickle-cost', { redis: values['redis-url'], mysql: values['mysql-url'] }, values['metrics-port']);
const database = env.DATABASE_URL.slice(env.DATABASE_URL.lastIndexOf('/') + 1);
const config = loadConfig({ ...process.env, ...env });
const orm = await connectOrm(config.DATABASE_URL);
await migrate(orm);
await orm.close();
const deps = await createDeps(config, 'trickle-cost', 'producer');
const redis = new Redis(values['redis-url']);
const redisPid = await serverPid(redis);

let workers: ChildProcess | undefined;
try {
  const product = await createProduct(deps, {
    name: 'trickle cost', description: '', manufacturer: '', price: 10, currency: 'EUR', type: 'general', perUserLimit: 0, stock: sales,
  });
  workers = startNode('workers/main.ts', { env, nodeArgs: nodeArgs({ profile: values.profile, outDir: values.out }, 'workers/main.ts'), logFile: `${values.out}/trickle-cost-workers.log` });
  await waitHttp(Number(values['metrics-port']), '/metrics', workers);
  await new Promise((r) => setTimeout(r, 1000)); // the workers' start-up behind
  const commands0 = await commandsProcessed(redis);
  const meter = new CpuMeter({ workers: workers.pid, redis: redisPid, mysql: pidOf('mariadbd', 'mysqld') }).start();
  const t0 = performance.now();
  for (let i = 0; i < sales; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    void admit(deps, { productId: product.id, userId: `t-${i}`, quantity: 1, paymentMethod: 'pm_card_visa', requestId: `r-${i}` });
  }
  let paid = 0;
  while (paid < sales) {
    await new Promise((r) => setTimeout(r, 50));
    paid = Number((await stats(deps, product.id)).tickets.paid ?? 0);
    if (performance.now() - t0 > (sales / rate) * 1000 + 60_000) throw new Error(`only ${paid} of ${sales} paid`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cores = meter.stop();
  const commands = (await commandsProcessed(redis)) - commands0;
  const per = (name: string) => ((cores[name] * seconds * 1e6) / sales).toFixed(0);
  console.log(`${sales} sales at ${rate}/s in ${seconds.toFixed(2)} s: CPU per sale: workers ${per('workers')} µs (${cores.workers.toFixed(2)} of a core), `
    + `Redis ${per('redis')} µs, MariaDB ${per('mysql')} µs; commands Redis ran per sale ${(commands / sales).toFixed(1)}`);
} finally {
  await stop(workers);
  await deps.orm.em.getConnection().execute(`drop database if exists ${database}`, [], 'run');
  await closeDeps(deps);
  await deleteKeysOf(redis, config.KEY_PREFIX);
  redis.disconnect();
}

