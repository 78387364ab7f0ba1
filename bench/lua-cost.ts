/**
 * Redis CPU per admitted ticket of admit.lua, by batch size: a product with stock that
 * never runs out, admitted `--tickets` times in calls of `--batch` requests, on a
 * redis-server of the caller's choice (`--redis-url`, default the local one); prints the
 * server's CPU (INFO cpu) and the script's own time (INFO commandstats) per ticket.
 *   npx node bench/lua-cost.ts --batch 1 --tickets 20000
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Keys } from '../shared/redis/keys.ts';
import { Scripts } from '../shared/redis/scripts.ts';
import { deleteKeysOf, serverCpuSeconds } from './redis-target.ts';
import { admitRequest, openUnlimitedDrop } from './unlimited-drop.ts';

const { values } = parseArgs({ options: {
  batch: { type: 'string', default: '1' }, tickets: { type: 'string', default: '20000' },
  'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' }, inflight: { type: 'string', default: '8' },
} });
const batch = Number(values.batch), total = Number(values.tickets), inflight = Number(values.inflight);
const redis = new Redis(values['redis-url']);
const keys = new Keys(`luacost-${process.pid}`);
const scripts = new Scripts(redis, keys, { holdMs: 60_000, ticketTtlS: 600 });
const productId = 1;
await openUnlimitedDrop(redis, keys, productId);
const cpu = () => serverCpuSeconds(redis);
const scriptUsec = async () => Number((await redis.info('commandstats')).match(/cmdstat_evalsha:calls=\d+,usec=(\d+)/)?.[1] ?? 0);

let next = 0;
const request = () => admitRequest(productId, next++);
// Warm up (script load, structures).
await scripts.admitMany(Array.from({ length: batch }, request));
const [cpu0, us0] = [await cpu(), await scriptUsec()];
const t0 = performance.now();
async function lane() {
  while (next < total) {
    const rs = Array.from({ length: Math.min(batch, total - next) }, request);
    const out = await scripts.admitMany(rs);
    if (out.some((r) => r.outcome !== 'created')) throw new Error(`not created: ${JSON.stringify(out[0])}`);
  }
}
await Promise.all(Array.from({ length: inflight }, lane));
const wall = performance.now() - t0;
const [cpu1, us1] = [await cpu(), await scriptUsec()];
const n = next - batch;
console.log(`batch ${batch}: ${n} tickets in ${(wall / 1000).toFixed(2)} s; Redis CPU ${((cpu1 - cpu0) * 1e6 / n).toFixed(1)} µs/ticket, script time ${((us1 - us0) / n).toFixed(1)} µs/ticket`);
await deleteKeysOf(redis, keys.prefix);
redis.disconnect();
