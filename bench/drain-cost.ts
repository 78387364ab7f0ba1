/**
 * CPU per event of the event log's drain (docs/event-log.md): a drop's log filled with
 * `--events` admitted tickets (admit.lua, calls of 8), then drained to a scratch MySQL
 * database; prints this process's CPU (reading the log, building the insert), Redis's and
 * MariaDB's per event.
 *   npx node bench/drain-cost.ts --events 40000
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { Keys } from '../shared/redis/keys.ts';
import { Scripts, type AdmitRequest } from '../shared/redis/scripts.ts';
import { connectOrm, migrate } from '../shared/db/orm.ts';
import { EventsRepository } from '../shared/db/events.repository.ts';
import { drainLog } from '../shared/domain/audit/drain.ts';

const { values } = parseArgs({ options: {
  events: { type: 'string', default: '40000' },
  'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
  'database-url': { type: 'string', default: 'mysql://root@127.0.0.1:3306/drain_cost' },
} });
const total = Number(values.events);
const redis = new Redis(values['redis-url']);
const keys = new Keys(`draincost-${process.pid}`);
const scripts = new Scripts(redis, keys, { holdMs: 60_000, ticketTtlS: 600 });
const orm = await connectOrm(values['database-url']);
await migrate(orm);
const events = new EventsRepository(orm);
const productId = 1;
await orm.em.getConnection().execute('delete from drop_events where product_id = ?', [productId], 'run');
await redis.hset(keys.product(productId).product, { total: 5_000_000, opensAt: 0, paused: 0, available: 5_000_000, reserved: 0, limit: 1, t_queued: 0, rate: 1, seq: 0 });

let next = 0;
const request = (): AdmitRequest => {
  const n = next++;
  return { productId, ticketId: `t${n}`, userId: `u${n}`, quantity: 1, paymentMethod: 'pm_card_visa', requestId: `r${n}`,
    userRatePerSec: 5, maxQueued: 10_000_000, idempotencyTtlS: 86_400, jobId: 'job-1' };
};
while (next < total) await scripts.admitMany(Array.from({ length: Math.min(8, total - next) }, request));
const logged = await redis.xlen(keys.product(productId).log);

const redisCpu = async () => {
  const info = await redis.info('cpu');
  const seconds = (name: string) => Number(info.match(new RegExp(`^${name}:([\\d.]+)`, 'm'))?.[1]);
  return seconds('used_cpu_user') + seconds('used_cpu_sys');
};
/** MariaDB's CPU seconds so far, from /proc (the local server). */
const mysqlCpu = () => {
  const pid = execFileSync('pidof', ['mariadbd']).toString().trim().split(' ')[0];
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

const [r0, m0, c0, t0] = [await redisCpu(), mysqlCpu(), process.cpuUsage(), performance.now()];
const moved = await drainLog({ scripts, events }, productId);
const [r1, m1, c1, t1] = [await redisCpu(), mysqlCpu(), process.cpuUsage(c0), performance.now()];
const per = (s: number) => (s * 1e6 / moved).toFixed(1);
console.log(`${moved} of ${logged} events in ${((t1 - t0) / 1000).toFixed(2)} s: drainer CPU ${per((c1.user + c1.system) / 1e6)} µs/event, `
  + `Redis ${per(r1 - r0)}, MariaDB ${per(m1 - m0)}`);

const toDelete = await redis.keys(`draincost-${process.pid}*`);
for (let i = 0; i < toDelete.length; i += 500) await redis.del(...toDelete.slice(i, i + 500));
await orm.em.getConnection().execute('drop database drain_cost', [], 'run');
await orm.close();
redis.disconnect();
