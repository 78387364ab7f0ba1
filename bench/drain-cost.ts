/**
 * CPU per event of the event log's drain (docs/event-log.md): a drop's log filled with
 * `--events` admitted tickets (admit.lua, calls of 8), then drained to a scratch MySQL
 * database; prints this process's CPU (reading the log, building the insert), Redis's and
 * MariaDB's per event.
 *   npx node bench/drain-cost.ts --events 40000
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Keys } from '../shared/redis/keys.ts';
import { Scripts } from '../shared/redis/scripts.ts';
import { connectOrm, migrate } from '../shared/db/orm.ts';
import { EventsRepository } from '../shared/db/events.repository.ts';
import { drainLog } from '../shared/domain/audit/drain.ts';
import { cpuSeconds, pidOf } from './processes.ts';
import { deleteKeysOf, serverCpuSeconds } from './redis-target.ts';
import { admitRequest, openUnlimitedDrop } from './unlimited-drop.ts';

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
await openUnlimitedDrop(redis, keys, productId);

let next = 0;
while (next < total) await scripts.admitMany(Array.from({ length: Math.min(8, total - next) }, () => admitRequest(productId, next++)));
const logged = await redis.xlen(keys.product(productId).log);

const redisCpu = () => serverCpuSeconds(redis);
const mariadb = pidOf('mariadbd', 'mysqld');
const mysqlCpu = () => cpuSeconds(mariadb);

const [r0, m0, c0, t0] = [await redisCpu(), mysqlCpu(), process.cpuUsage(), performance.now()];
const moved = await drainLog({ scripts, events }, productId);
const [r1, m1, c1, t1] = [await redisCpu(), mysqlCpu(), process.cpuUsage(c0), performance.now()];
const per = (s: number) => (s * 1e6 / moved).toFixed(1);
console.log(`${moved} of ${logged} events in ${((t1 - t0) / 1000).toFixed(2)} s: drainer CPU ${per((c1.user + c1.system) / 1e6)} µs/event, `
  + `Redis ${per(r1 - r0)}, MariaDB ${per(m1 - m0)}`);

await deleteKeysOf(redis, keys.prefix);
await orm.em.getConnection().execute('drop database drain_cost', [], 'run');
await orm.close();
redis.disconnect();
