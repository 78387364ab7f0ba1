/**
 * What a sale costs the workers: `--tickets` buyers admitted to a drop of as many units
 * (through the door's own admit, with the bench's worker settings and the simulated
 * provider), then sold by a workers process (workers/main.ts, as `start:workers` runs it)
 * started once they wait, while nothing else runs; prints the workers', Redis's and
 * MariaDB's CPU per sale and the commands Redis ran per sale (calls inside scripts
 * included), from the workers' readiness to the last sale. Run alternately before and
 * after a change: one run moves with the machine.
 *   npx node bench/settle-cost.ts --tickets 10000 [--profile --out /tmp/settle]
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
  tickets: { type: 'string', default: '10000' },
  'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
  'mysql-url': { type: 'string', default: 'mysql://root@127.0.0.1:3306' },
  'metrics-port': { type: 'string', default: '3960' },
  out: { type: 'string', default: '/tmp' },
  /** Write a V8 CPU profile of the workers to <out>/profiles. */
  profile: { type: 'boolean', default: false },
} });
const tickets = Number(values.tickets);
const env = workersBenchEnv('settle-cost', { redis: values['redis-url'], mysql: values['mysql-url'] }, values['metrics-port']);
const database = env.DATABASE_URL.slice(env.DATABASE_URL.lastIndexOf('/') + 1);
const config = loadConfig({ ...process.env, ...env });
const orm = await connectOrm(config.DATABASE_URL);
await migrate(orm);
await orm.close();
const deps = await createDeps(config, 'settle-cost', 'producer');
const redis = new Redis(values['redis-url']);
const redisPid = await serverPid(redis);

let workers: ChildProcess | undefined;
try {
  // The queue is filled first, with no worker running, so every reserve call finds a
  // full chunk whatever the workers' speed; then the workers start and only they run.
  const product = await createProduct(deps, {
    name: 'settle cost', description: '', manufacturer: '', price: 10, currency: 'EUR', type: 'reserve',
    opensAt: new Date(Date.now() - 1000), perUserLimit: 1, stock: tickets,
  });
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < tickets) {
      const i = next++;
      await admit(deps, { productId: product.id, userId: `s-${i}`, quantity: 1, paymentMethod: 'pm_card_visa', requestId: `r-${i}` });
    }
  }));
  await deps.admissions.flush();
  workers = startNode('workers/main.ts', { env, nodeArgs: nodeArgs({ profile: values.profile, outDir: values.out }, 'workers/main.ts'), logFile: `${values.out}/settle-cost-workers.log` });
  await waitHttp(Number(values['metrics-port']), '/metrics', workers);
  // From here on: the workers' start-up (loading modules) is behind, the sale ahead.
  const commands0 = await commandsProcessed(redis);
  const meter = new CpuMeter({ workers: workers.pid, redis: redisPid, mysql: pidOf('mariadbd', 'mysqld') }).start();
  const t0 = performance.now();
  let paid = 0;
  while (paid < tickets) {
    await new Promise((r) => setTimeout(r, 100));
    paid = Number((await stats(deps, product.id)).tickets.paid ?? 0);
    if (performance.now() - t0 > 300_000) throw new Error(`only ${paid} of ${tickets} paid after 300 s`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cores = meter.stop();
  const commands = (await commandsProcessed(redis)) - commands0;
  const per = (name: string) => ((cores[name] * seconds * 1e6) / tickets).toFixed(0);
  console.log(`${tickets} sales in ${seconds.toFixed(2)} s (${(tickets / seconds).toFixed(0)}/s): CPU per sale: workers ${per('workers')} µs, `
    + `Redis ${per('redis')} µs, MariaDB ${per('mysql')} µs; commands Redis ran per sale ${(commands / tickets).toFixed(1)}`);
} finally {
  await stop(workers);
  await deps.orm.em.getConnection().execute(`drop database if exists ${database}`, [], 'run');
  await closeDeps(deps);
  await deleteKeysOf(redis, config.KEY_PREFIX);
  redis.disconnect();
}

