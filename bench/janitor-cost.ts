/**
 * What an idle catalogue costs the workers' janitor (workers/janitor.ts): `--products`
 * general products loaded and drained, nothing live, then the janitor alone for
 * `--seconds`; prints Redis's calls and CPU and this process's CPU per product each
 * second, against a baseline in the same run: the least a look at each product can be,
 * one XLEN of its log per product each second, sent together.
 *   npx node bench/janitor-cost.ts --products 1000 --seconds 10
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfig } from '../shared/config.ts';
import { closeDeps, createDeps } from '../shared/deps.ts';
import { migrate } from '../shared/db/orm.ts';
import { drainLog } from '../shared/domain/audit/drain.ts';
import { createProduct } from '../shared/domain/products/manage.ts';
import { Janitor } from '../workers/janitor.ts';
import { deleteKeysOf, serverCpuSeconds } from './redis-target.ts';

const { values } = parseArgs({ options: {
  products: { type: 'string', default: '1000' },
  seconds: { type: 'string', default: '10' },
  'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
  'mysql-url': { type: 'string', default: 'mysql://root@127.0.0.1:3306' },
} });
const count = Number(values.products);
const seconds = Number(values.seconds);
const config = loadConfig({
  NODE_ENV: 'production', REDIS_URL: values['redis-url'], DATABASE_URL: `${values['mysql-url']}/janitor_cost`,
  KEY_PREFIX: `janitorcost-${process.pid}`, JWT_SECRET: 'janitor-cost-secret-0123456789', ADMIN_PASSWORD: 'janitor-cost', LOG_LEVEL: 'warn',
});
const deps = await createDeps(config, 'janitor-cost', 'worker');
await migrate(deps.orm);
const ids: number[] = [];
for (let i = 0; i < count; i++) {
  const p = await createProduct(deps, { name: `idle ${i}`, description: '', manufacturer: '', price: 10, currency: 'EUR', type: 'general', perUserLimit: 0, stock: 100 });
  ids.push(p.id);
}
for (const id of ids) await drainLog(deps, id);

const probe = new Redis(values['redis-url']);
const calls = async () => Number(/total_commands_processed:(\d+)/.exec(await probe.info('stats'))?.[1]);
/** Runs `start` for `seconds`, after 2 s to warm up; Redis calls, Redis CPU and ours per product-second. */
async function measure(start: () => () => Promise<void>) {
  const stop = start();
  await sleep(2000);
  const [c0, r0, p0] = [await calls(), await serverCpuSeconds(probe), process.cpuUsage()];
  await sleep(seconds * 1000);
  const [c1, r1, p1] = [await calls(), await serverCpuSeconds(probe), process.cpuUsage(p0)];
  await stop();
  const per = count * seconds;
  return { calls: (c1 - c0) / per, redisUs: ((r1 - r0) * 1e6) / per, ownUs: (p1.user + p1.system) / per };
}

const janitor = await measure(() => {
  const j = new Janitor(deps, () => {});
  j.start();
  return () => j.stop();
});
const keys = ids.map((id) => deps.keys.product(id).log);
const floor = await measure(() => {
  let last: Promise<unknown> = Promise.resolve();
  const look = () => { last = Promise.all(keys.map((k) => deps.redis.xlen(k))); };
  look();
  const timer = setInterval(look, 1000);
  return async () => {
    clearInterval(timer);
    await last;
  };
});

const row = (name: string, m: typeof janitor) =>
  `${name.padEnd(28)} ${m.calls.toFixed(1).padStart(6)} calls  ${m.redisUs.toFixed(1).padStart(6)} µs Redis  ${m.ownUs.toFixed(1).padStart(6)} µs workers`;
console.log(`${count} idle products, ${seconds} s, per product each second:`);
console.log(row('janitor (rounds and drains)', janitor));
console.log(row('floor: one XLEN, together', floor));
console.log(`ratio: Redis CPU ${(janitor.redisUs / floor.redisUs).toFixed(2)}x, workers CPU ${(janitor.ownUs / floor.ownUs).toFixed(2)}x the floor`);

await deleteKeysOf(deps.redis, config.KEY_PREFIX);
await deps.orm.em.getConnection().execute('drop database janitor_cost', [], 'run');
probe.disconnect();
await closeDeps(deps);
