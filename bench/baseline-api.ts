import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import Koa from 'koa';

/**
 * Baseline 1: the least an admission API can do. A bare Koa server whose one middleware
 * adds a job with `queue.add` and answers 202: no auth, no body parsing, no routing, no
 * stock check. Producer connection set up as the real API's (fail fast, no offline queue).
 *   node bench/baseline-api.ts <port> <redisUrl | cluster:host:port,...> <keyPrefix> <queueName>
 */
const [port, redisUrl, prefix, queueName] = process.argv.slice(2);
const opts = { enableOfflineQueue: false, maxRetriesPerRequest: 1 };
const redis = redisUrl.startsWith('cluster:')
  ? new Cluster(seeds(redisUrl), { enableOfflineQueue: false, redisOptions: opts })
  : new Redis(redisUrl, opts);
await new Promise((resolve) => redis.once('ready', resolve));
const queue = new Queue(queueName, { connection: redis, prefix });

const app = new Koa();
app.use(async (ctx) => {
  if (ctx.method !== 'POST') {
    ctx.body = { ok: true };
    return;
  }
  const ticketId = randomBytes(12).toString('base64url');
  await queue.add('admit', { ticketId }, { jobId: ticketId, removeOnComplete: true });
  ctx.status = 202;
  ctx.body = { ticketId, status: 'queued' };
});
const server = app.listen(Number(port));
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void queue.close().then(() => redis.quit()).then(() => process.exit(0));
});

function seeds(target: string) {
  return target.slice('cluster:'.length).split(',').map((seed) => ({ host: seed.split(':')[0], port: Number(seed.split(':')[1]) }));
}
