import { Worker } from 'bullmq';
import { Cluster, Redis } from 'ioredis';

/**
 * Baseline 2: a bare BullMQ worker draining no-op jobs, with the stock worker's
 * concurrency and connection options. Reports completions over IPC (fork) four times a
 * second, with the wall-clock time of the latest one.
 *   node bench/baseline-worker.ts <redisUrl | cluster:host:port,...> <keyPrefix> <queueName> <concurrency>
 */
const [redisUrl, prefix, queueName, concurrency] = process.argv.slice(2);
const connection = redisUrl.startsWith('cluster:')
  ? new Cluster(redisUrl.slice('cluster:'.length).split(',').map((seed) => ({ host: seed.split(':')[0], port: Number(seed.split(':')[1]) })),
    { redisOptions: { maxRetriesPerRequest: null } })
  : new Redis(redisUrl, { maxRetriesPerRequest: null });
let completed = 0;
let lastAt = 0;
const worker = new Worker(queueName, async () => {}, { connection, prefix, concurrency: Number(concurrency) });
worker.on('completed', () => {
  completed++;
  lastAt = Date.now();
});
worker.on('error', (err) => console.error(err.message));
await worker.waitUntilReady();
process.send!({ type: 'ready' });
const timer = setInterval(() => process.send!({ type: 'progress', completed, lastAt }), 100);
process.once('SIGTERM', () => {
  clearInterval(timer);
  void worker.close().then(() => connection.quit()).then(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
