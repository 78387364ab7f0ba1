import { Redis, type Cluster } from 'ioredis';
import { createRedis, masters, ownersOf, scanKeys, whenReady, type RedisClient } from '../shared/redis/client.ts';
import { startCluster, type LocalCluster } from '../scripts/redis-cluster.ts';
import { PRODUCTION_REDIS_ARGS, startRedis } from './redis-server.ts';
import { line } from './settings.ts';

/**
 * The Redis a bench run uses: a redis-server of its own, the one `--redis-url` names, or
 * (`--cluster`) a local Redis Cluster of three masters of its own, every node configured
 * like docker-compose.yml's. `client` is what the system would use (a Cluster client on a
 * cluster); `nodeFor(key)` a direct connection to the master holding a key, so the drop's
 * sampler reads its shard's counters, memory and process as on one server.
 */
export class BenchRedis {
  readonly url: string;
  readonly clusterNodes: string;
  readonly client: RedisClient;
  private readonly stopOwn: () => Promise<void>;
  private readonly direct = new Map<string, Redis>();

  private constructor(url: string, clusterNodes: string, stopOwn: () => Promise<void>) {
    this.url = url;
    this.clusterNodes = clusterNodes;
    this.stopOwn = stopOwn;
    this.client = createRedis({ url, clusterNodes: clusterNodes || undefined }, 'worker', 'bench');
  }

  static async start(opts: { redisUrl: string; cluster: boolean; port: number }): Promise<BenchRedis> {
    let target: BenchRedis;
    if (opts.cluster) {
      const cluster: LocalCluster = await startCluster(opts.port, 3, PRODUCTION_REDIS_ARGS);
      line(`bench: own Redis Cluster at ${cluster.nodes.join(',')} (3 masters; ${PRODUCTION_REDIS_ARGS.join(' ')})`);
      target = new BenchRedis(`redis://${cluster.nodes[0]}`, cluster.nodes.join(','), cluster.stop);
    } else if (opts.redisUrl) {
      target = new BenchRedis(opts.redisUrl, '', async () => {});
    } else {
      const own = await startRedis(opts.port);
      line(`bench: own redis-server at ${own.url} (${PRODUCTION_REDIS_ARGS.join(' ')})`);
      target = new BenchRedis(own.url, '', own.stop);
    }
    await whenReady(target.client);
    return target;
  }

  /** The connection string the bare baselines take: a URL, or `cluster:` and the seeds. */
  get baselineTarget(): string {
    return this.clusterNodes ? `cluster:${this.clusterNodes}` : this.url;
  }

  /** A connection to the master that holds `key` (the one server, when there is one). */
  async nodeFor(key: string): Promise<Redis> {
    if (!this.clusterNodes) return this.client as Redis;
    const [owner] = await ownersOf(this.client as Cluster, [key]);
    if (!owner) throw new Error(`no master holds ${key}`);
    let node = this.direct.get(owner);
    if (!node) {
      const [host, port] = owner.split(':');
      node = new Redis(Number(port), host, { maxRetriesPerRequest: null });
      this.direct.set(owner, node);
    }
    return node;
  }

  /** The process id of a server (for its CPU). */
  pidOf(node: Redis): Promise<number | undefined> {
    return serverPid(node);
  }

  /** Every key of a prefix, on every master. */
  deleteKeys(prefix: string): Promise<void> {
    return deleteKeysOf(this.client, prefix);
  }

  async version(): Promise<string> {
    return /redis_version:(\S+)/.exec(await masters(this.client)[0].info('server'))?.[1] ?? '?';
  }

  async stop(): Promise<void> {
    await Promise.all([...this.direct.values()].map((node) => node.quit()));
    await this.client.quit();
    await this.stopOwn();
  }
}

/** The process id of the redis-server a connection talks to (INFO server). */
export async function serverPid(node: Redis): Promise<number | undefined> {
  return Number(/process_id:(\d+)/.exec(await node.info('server'))?.[1]) || undefined;
}

/** The CPU seconds (user + system) a redis-server has used so far (INFO cpu; it may be remote). */
export async function serverCpuSeconds(node: Redis): Promise<number> {
  const info = await node.info('cpu');
  const seconds = (name: string) => Number(info.match(new RegExp(`^${name}:([\\d.]+)`, 'm'))?.[1]);
  return seconds('used_cpu_user') + seconds('used_cpu_sys');
}

/** Calls per command a redis-server has run so far (INFO commandstats: a script call and each call inside it). */
export async function commandCalls(node: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const [, command, count] of (await node.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls.set(command, Number(count));
  }
  return calls;
}

/** The AOF's size and how many rewrites (which shrink it) the server made, or null without AOF. */
export async function aofBytes(node: Redis): Promise<{ size: number; rewrites: number } | null> {
  const info = await node.info('persistence');
  if (!/^aof_enabled:1/m.test(info)) return null;
  const field = (name: string) => Number(info.match(new RegExp(`^${name}:(\\d+)`, 'm'))?.[1] ?? 0);
  return { size: field('aof_current_size'), rewrites: field('aof_rewrites') };
}

/** Every key of a prefix, on every master. */
export async function deleteKeysOf(client: RedisClient, prefix: string): Promise<void> {
  // One key per call: on a cluster the keys of one scan page sit in many slots.
  for await (const { node, keys } of scanKeys(client, `${prefix}:*`, 5000)) await Promise.all(keys.map((key) => node.unlink(key)));
}
