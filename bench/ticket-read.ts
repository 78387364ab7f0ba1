/**
 * What a buyer's poll of a live ticket costs to read from Redis (TicketStore.withPlace):
 * ticket-place.lua, one script call, against the pipeline of five commands it replaced
 * (HGETALL, ZRANK, HMGET, ZCOUNT, TIME), on a connection that carries what the API's main
 * connection carries (the project's scripts; BullMQ's are on a connection of their own in
 * the API). ioredis copies every script defined on a connection into each new pipeline.
 * Prints this process's CPU and Redis's per read, alternating, `--rounds` times.
 *   npx node bench/ticket-read.ts [--redis-url URL] [--reads 20000] [--rounds 2]
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Keys } from '../shared/redis/keys.ts';
import { Scripts } from '../shared/redis/scripts.ts';
import { TicketStore } from '../shared/redis/ticket-store.ts';
import { deleteKeysOf, serverCpuSeconds } from './redis-target.ts';

const { values: flags } = parseArgs({ options: {
  'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
  reads: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '2' },
} });
const reads = Number(flags.reads);
const redis = new Redis(String(flags['redis-url']), { maxRetriesPerRequest: null });
const keys = new Keys(`ticketread-${process.pid}`);
const scripts = new Scripts(redis, keys, { holdMs: 60_000, ticketTtlS: 600 });
const tickets = new TicketStore(redis, keys, scripts);
const productId = 1;
const k = keys.product(productId);
const ticketId = '1-abcdefghijklmnop';
await redis.hset(k.ticketPrefix + ticketId, { user: 'b-1', qty: 1, pm: 'pm_card_ok', status: 'queued', seq: 17, created: Date.now(), rid: 'r-1', job: 'b1-x' });
await redis.zadd(k.queued, 17, ticketId);
await redis.hset(k.product, { rate: 1000, mr: 900, opensAt: Date.now() });

const pipelineOfFive = () => redis.pipeline().hgetall(k.ticketPrefix + ticketId).zrank(k.queued, ticketId)
  .hmget(k.product, 'rate', 'mr', 'opensAt').zcount(k.queued, '-inf', '(0').time().exec();
const script = () => tickets.withPlace(productId, ticketId);

async function measure(name: string, read: () => Promise<unknown>) {
  for (let i = 0; i < 1000; i++) await read();
  const [c0, r0] = [process.cpuUsage(), await serverCpuSeconds(redis)];
  let n = 0;
  await Promise.all(Array.from({ length: 8 }, async () => { while (n++ < reads) await read(); }));
  const [c, r1] = [process.cpuUsage(c0), await serverCpuSeconds(redis)];
  console.log(`${name}: client ${((c.user + c.system) / reads).toFixed(1)} µs, Redis ${(((r1 - r0) * 1e6) / reads).toFixed(1)} µs per read`);
}
console.log(`${Object.keys((redis as unknown as { scriptsSet: object }).scriptsSet).length} scripts defined on the connection`);
for (let round = 0; round < Number(flags.rounds); round++) {
  await measure('pipeline of five', pipelineOfFive);
  await measure('ticket-place.lua', script);
}
await deleteKeysOf(redis, keys.prefix);
redis.disconnect();
