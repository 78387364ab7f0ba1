import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { startCluster, startClusterOnFreePorts } from './redis-cluster.ts';

/**
 * `npm test`'s suites, in two passes:
 *  1. every suite against the one Redis server at REDIS_URL (127.0.0.1:6379 by default);
 *  2. the Redis, API, end-to-end and dashboard suites again against a local 3-master
 *     Redis Cluster that this script starts on ports of its own (free ones the OS picks,
 *     or TEST_CLUSTER_PORT and the next two, bus ports +10000) and stops. The suites see TEST_REDIS_CLUSTER_NODES and give the
 *     system REDIS_CLUSTER_NODES; jest.cluster.config.js lists the few suites that are
 *     about one server only.
 *
 * Arguments go to jest in both passes (`npm test -- test/api` runs those suites twice).
 * TEST_CLUSTER=skip runs the first pass only (a machine without `redis-server`);
 * TEST_CLUSTER=only the second only.
 */
const args = process.argv.slice(2);
const mode = process.env.TEST_CLUSTER ?? 'both';
const jestBin = createRequire(import.meta.url).resolve('jest/bin/jest');

function jest(extra: string[], env: Record<string, string> = {}): number {
  const run = spawnSync(process.execPath, [jestBin, ...extra, ...args], {
    stdio: 'inherit',
    env: { ...process.env, NODE_OPTIONS: '--experimental-vm-modules', ...env },
  });
  return run.status ?? 1;
}

let failed = false;
if (mode !== 'only') {
  console.log('\n== pass 1: one Redis server ==\n');
  failed = jest([]) !== 0;
}
if (mode !== 'skip') {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    console.error('redis-server is not installed: the cluster pass needs it (TEST_CLUSTER=skip runs without it).');
    process.exit(1);
  }
  const port = Number(process.env.TEST_CLUSTER_PORT);
  const cluster = port ? await startCluster(port, 3) : await startClusterOnFreePorts(3);
  console.log(`\n== pass 2: Redis Cluster ${cluster.nodes.join(',')} ==\n`);
  try {
    failed = jest(['--config', 'jest.cluster.config.js'], { TEST_REDIS_CLUSTER_NODES: cluster.nodes.join(',') }) !== 0 || failed;
  } finally {
    await cluster.stop();
  }
}
process.exit(failed ? 1 : 0);
