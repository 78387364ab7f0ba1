import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/**
 * A local Redis Cluster of `masters` masters on loopback, no replicas, nothing on disk:
 * for the tests' cluster pass and `npm run bench -- --cluster`. Each node is a
 * `redis-server --cluster-enabled yes` on its own port; `redis-cli --cluster create`
 * spreads the 16,384 slots over them.
 *
 *   node scripts/redis-cluster.ts [firstPort=7101] [masters=3]   # runs until Ctrl-C
 */
export type LocalCluster = { nodes: string[]; ports: number[]; stop(): Promise<void> };

export async function startCluster(firstPort = 7101, masters = 3): Promise<LocalCluster> {
  const ports = Array.from({ length: masters }, (_, i) => firstPort + i);
  const dir = mkdtempSync(join(tmpdir(), 'drop-cluster-'));
  const children: ChildProcess[] = ports.map((port) => spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
    '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000',
    '--save', '', '--appendonly', 'no', '--dir', dir,
  ], { stdio: 'ignore' }));
  await Promise.all(ports.map((port) => waitForPing(port)));
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
    { encoding: 'utf8' });
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
  await waitForClusterOk(ports[0]);
  const stop = async () => {
    await Promise.all(children.map((c) => new Promise((resolve) => {
      if (c.exitCode !== null) resolve(null);
      c.once('exit', resolve);
      c.kill('SIGKILL');
    })));
    rmSync(dir, { recursive: true, force: true });
  };
  return { nodes: ports.map((p) => `127.0.0.1:${p}`), ports, stop };
}

async function waitForPing(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {}); // not up yet: the connect call rejects
    try {
      await probe.connect();
      await probe.ping();
      await probe.quit();
      return;
    } catch {
      probe.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`redis-server on port ${port} did not start`);
}

async function waitForClusterOk(port: number): Promise<void> {
  const probe = new Redis(port, '127.0.0.1');
  try {
    for (let i = 0; i < 100; i++) {
      if (/cluster_state:ok/.test(await probe.cluster('INFO') as string)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the cluster did not reach cluster_state:ok');
  } finally {
    await probe.quit();
  }
}

if (import.meta.main) {
  const [first, masters] = process.argv.slice(2).map(Number);
  const cluster = await startCluster(first || 7101, masters || 3);
  console.log(`REDIS_CLUSTER_NODES=${cluster.nodes.join(',')}`);
  const stop = () => void cluster.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
