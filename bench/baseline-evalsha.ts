import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import Koa from 'koa';

/**
 * Baseline 3 (the pure-admission phase): the least a Redis-backed admission can do in one
 * round trip. A bare Koa server whose one middleware runs ONE `EVALSHA` of a small script
 * that does about what a minimal admission needs (a sequence number from the product's
 * hash, the ticket's hash, its place in the queue's sorted set) and answers 202 with the
 * ticket: no auth, no body parsing, no routing, no stock or limit checks, no job, no log.
 * Every key under one hash tag (`<keyPrefix>` carries it), so it runs on a cluster too.
 * Connection set up as baseline-api.ts's (fail fast, no offline queue, not auto-pipelined).
 *   node bench/baseline-evalsha.ts <port> <redisUrl | cluster:host:port,...> <keyPrefix>
 */
const [port, redisUrl, prefix] = process.argv.slice(2);
const opts = { enableOfflineQueue: false, maxRetriesPerRequest: 1 };
const redis = redisUrl.startsWith('cluster:')
  ? new Cluster(seeds(redisUrl), { enableOfflineQueue: false, redisOptions: opts })
  : new Redis(redisUrl, opts);
await new Promise((resolve) => redis.once('ready', resolve));

/** KEYS: product hash, the ticket's hash, the queue. ARGV: ticketId, now (ms). Returns the ticket's sequence number. */
const ADMIT = `
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[2], 'status', 'queued', 'qty', 1, 'seq', seq, 'created', ARGV[2])
redis.call('ZADD', KEYS[3], seq, ARGV[1])
return seq`;
// defineCommand sends EVALSHA (EVAL only once, after a NOSCRIPT), as the system's scripts do.
redis.defineCommand('bareAdmit', { numberOfKeys: 3, lua: ADMIT });
const admit = (redis as unknown as { bareAdmit(...args: string[]): Promise<number> }).bareAdmit.bind(redis);
const product = `${prefix}:product`;
const queued = `${prefix}:queued`;

const app = new Koa();
app.use(async (ctx) => {
  if (ctx.method !== 'POST') {
    ctx.body = { ok: true };
    return;
  }
  const ticketId = randomBytes(12).toString('base64url');
  const now = Date.now();
  const seq = await admit(product, `${prefix}:t:${ticketId}`, queued, ticketId, String(now));
  ctx.status = 202;
  ctx.body = { ticketId, status: 'queued', position: seq - 1, createdAt: new Date(now).toISOString() };
});
const server = app.listen(Number(port));
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void redis.quit().then(() => process.exit(0));
});

function seeds(target: string) {
  return target.slice('cluster:'.length).split(',').map((seed) => ({ host: seed.split(':')[0], port: Number(seed.split(':')[1]) }));
}
