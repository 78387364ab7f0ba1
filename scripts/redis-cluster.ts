import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
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
export type LocalCluster = {
  nodes: string[];
  ports: number[];
  /** SIGKILLs one node: its slots are served by no one (no replicas), the cluster is down. */
  kill(port: number): Promise<void>;
  /** Starts a killed node again, empty, owning its slots as before; resolves once the cluster is ok. */
  restart(port: number): Promise<void>;
  stop(): Promise<void>;
};

export async function startCluster(firstPort = 7101, masters = 3, extraArgs: string[] = []): Promise<LocalCluster> {
  const ports = Array.from({ length: masters }, (_, i) => firstPort + i);
  return startNodes(ports, ports.map((p) => p + 10_000), extraArgs);
}

/** The same on ports the OS picks (bus ports too): for a test's cluster of its own. */
export async function startClusterOnFreePorts(masters = 3): Promise<LocalCluster> {
  const picked: number[] = [];
  while (picked.length < masters * 2) {
    const port = await freePort();
    if (!picked.includes(port)) picked.push(port);
  }
  return startNodes(picked.slice(0, masters), picked.slice(masters));
}

/** A free TCP port on loopback (the OS picks it; it stays free long enough to be used). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `extraArgs` come last, so they override the defaults (no AOF). */
async function startNodes(ports: number[], busPorts: number[], extraArgs: string[] = []): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'drop-cluster-'));
  // Each node's cluster config survives a restart (the node comes back owning its slots, empty).
  const node = (i: number) => {
    // A directory per node: with AOF on (extraArgs), each keeps its own appendonlydir.
    const own = join(dir, String(ports[i]));
    mkdirSync(own, { recursive: true });
    return spawn('redis-server', [
      '--port', String(ports[i]), '--cluster-port', String(busPorts[i]), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
      '--cluster-config-file', join(dir, `nodes-${ports[i]}.conf`), '--cluster-node-timeout', '2000',
      '--save', '', '--appendonly', 'no', '--dir', own, ...extraArgs,
    ], { stdio: 'ignore' });
  };
  const children: ChildProcess[] = ports.map((_, i) => node(i));
  await Promise.all(ports.map((port) => waitForPing(port)));
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
    { encoding: 'utf8' });
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
  await waitForClusterOk(ports[0]);
  const kill = (c: ChildProcess) => new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve(null);
    c.once('exit', resolve);
    c.kill('SIGKILL');
  });
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`),
    ports,
    kill: async (port) => void await kill(children[ports.indexOf(port)]),
    restart: async (port) => {
      const i = ports.indexOf(port);
      await kill(children[i]);
      children[i] = node(i);
      await waitForPing(port);
      await waitForClusterOk(port);
    },
    stop: async () => {
      await Promise.all(children.map(kill));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once a redis-server on loopback answers PING (fails after about 5 s). */
export async function waitForPing(port: number): Promise<void> {
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
