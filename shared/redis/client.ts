import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';

/** A connection to Redis: one server, or a Redis Cluster (REDIS_CLUSTER_NODES). */
export type RedisClient = Redis | Cluster;

/**
 * `producer`: fails fast while Redis is away (the API answers 503 instead of queueing
 * commands in memory). Not auto-pipelined: under a rush of purchases that each really
 * admit a ticket, ioredis's auto-pipelining (a `Pipeline` object and its promise chain
 * for every event-loop turn's write) cost the door a fifth to a quarter of its throughput
 * (bench/README.md, "Measured choices in the code").
 * `producer-queues`: the producer's connection for BullMQ's queues; fails fast too, and
 * keeps BullMQ's adds (one per batch of tickets) apart from the door's scripts.
 * `worker`: waits forever, as BullMQ workers must; not auto-pipelined, because a BullMQ
 * worker then waits for one batch to return before it sends the next.
 * What each choice measured: bench/README.md, "Measured choices in the code".
 */
export type RedisRole = 'producer' | 'producer-queues' | 'worker';

export type RedisTarget = {
  /** A single server's URL; with `clusterNodes`, only its credentials and TLS are used. */
  url: string;
  /** Seeds of a Redis Cluster (`host:port,...`). */
  clusterNodes?: string;
  /** The API's Redis commands fail after this (503). */
  commandTimeoutMs?: number;
};

export function createRedis(target: RedisTarget, role: RedisRole, name?: string): RedisClient {
  // A producer's command that Redis does not answer in time fails (503), so no request
  // waits on a hung Redis for longer than that.
  const opts: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, connectionName: name }
      : { maxRetriesPerRequest: 1, connectionName: name, commandTimeout: target.commandTimeoutMs };
  if (!target.clusterNodes) {
    return new Redis(target.url, role === 'worker' ? opts : { ...opts, enableOfflineQueue: false });
  }
  const url = new URL(target.url);
  const nodes: ClusterNode[] = target.clusterNodes.split(',').map((seed) => {
    const [host, port] = seed.split(':');
    return { host, port: Number(port) };
  });
  return new Cluster(nodes, {
    enableOfflineQueue: role === 'worker',
    // A slot that moved or a shard that is failing over: ioredis retries these itself
    // for a moment; past that the command fails and the API answers 503.
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    retryDelayOnMoved: 0,
    maxRedirections: 16,
    slotsRefreshTimeout: 2000,
    redisOptions: {
      ...opts,
      ...(url.username && { username: decodeURIComponent(url.username) }),
      ...(url.password && { password: decodeURIComponent(url.password) }),
      ...(url.protocol === 'rediss:' && { tls: {} }),
    },
  });
}

/** The master nodes of a cluster, or the one server. */
export function masters(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/**
 * Pings every master (the one server). On a cluster, "every master" is every node the
 * slot table names as an owner, connected or not: a master that died is still named
 * (until a replica takes over), while ioredis drops its connection from `nodes()`.
 * Fails when one does not answer or a slot has no owner.
 */
export async function pingAll(client: RedisClient): Promise<void> {
  if (!(client instanceof Cluster)) return void await client.ping();
  let uncovered = 0;
  for (let slot = 0; slot < 16_384; slot++) if (!client.slots[slot]?.[0]) uncovered++;
  if (uncovered > 0) throw new Error(`${uncovered} slots have no Redis master`);
  const owners = slotOwners(client);
  const connected = new Map(client.nodes('master').map((node) => [nodeKey(node), node]));
  const missing = owners.filter((key) => !connected.has(key));
  if (missing.length) {
    // ioredis drops a node whose connection ended and connects again only when it reloads
    // the slot table: ask for that, so a master that came back is found by the next check.
    client.refreshSlotsCache();
    throw new Error(`Redis masters ${missing.join(', ')} are not connected`);
  }
  await Promise.all(owners.map((key) => connected.get(key)!.ping()));
}

/** `host:port` of a node, as the slot table names it. */
export const nodeKey = (node: Redis) => `${node.options.host}:${node.options.port}`;

/** Every master the cluster's slot table names as an owner (`host:port`), sorted. */
export function slotOwners(cluster: Cluster): string[] {
  return [...new Set(cluster.slots.map((slot) => slot?.[0]).filter((key): key is string => Boolean(key)))].sort();
}

/** The master (`host:port`) that holds each key on a cluster: Redis computes the slots (CLUSTER KEYSLOT). */
export async function ownersOf(cluster: Cluster, keys: string[]): Promise<string[]> {
  const [node] = cluster.nodes('master');
  const slots = await Promise.all(keys.map((key) => node.cluster('KEYSLOT', key) as Promise<number>));
  return slots.map((slot) => cluster.slots[slot]?.[0] ?? '');
}

/** Every key matching `pattern` on every master (the one server), a SCAN page at a time. */
export async function* scanKeys(client: RedisClient, pattern: string, count = 1000): AsyncGenerator<{ node: Redis; keys: string[] }> {
  for (const node of masters(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length) yield { node, keys };
    } while (cursor !== '0');
  }
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/** Resolves once the client is connected (producers cannot send before that). */
export async function whenReady(redis: RedisClient): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const onReady = () => { cleanup(); resolve(); };
    const onEnd = () => { cleanup(); reject(new Error('Redis connection ended before it was ready')); };
    const cleanup = () => { redis.off('ready', onReady); redis.off('end', onEnd); };
    redis.once('ready', onReady);
    redis.once('end', onEnd);
  });
}
