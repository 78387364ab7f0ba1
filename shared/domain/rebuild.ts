import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { Product, RedisSnapshot } from '../db/entities/product.entity.ts';
import type { Keys } from '../redis/keys.ts';
import type { Scripts } from '../redis/scripts.ts';
import { jobOptions, reserveQueueName, admissionQueueName, type Queues } from '../queues.ts';
import { randomId } from '../random-ids.ts';
import { TICKET_STATUSES } from './product-state.ts';

export type RebuildDeps = { config: Config; orm: Orm; redis: Redis; keys: Keys; scripts: Scripts; queues: Queues };

/** What a rebuild gave back: tickets whose holds came back and need their payment jobs again. */
export type Rebuilt = { restored: string[] };

type OrderRow = { id: number; status: string; user_id: string; ticket_id: string; quantity: number; payment_method: string | null };
type Survivor = { id: string; status: string; user: string; seq: number; order: string | null };

const LEDGER_STATUS: Record<string, string> = { pending: 'reserved', paid: 'paid', failed: 'payment_failed', expired: 'expired' };

/**
 * Loads a product's live state into a Redis that does not have it (first use, or Redis
 * lost it), from the MySQL ledger: orders are the truth for units sold and held and for
 * who holds how many; operators' pause and rate come from the product row.
 *
 * - Every pending order holds its units again: its ticket comes back `reserved` with its
 *   order and payment method, and the caller adds its payment job (see loadProduct).
 * - Ticket hashes that survived (Redis lost the product's hash and sets, not the tickets)
 *   and were still waiting are queued again, in their old order, with an admission job.
 * - What Redis held that only Redis knew (queued tickets, the answers of tickets that ended
 *   without an order) is lost: the product's last snapshot says how much, and the loss is
 *   recorded (`redis_losses`, listed by `GET /admin/reconcile`).
 *
 * Returns null when another process loaded the product first.
 */
export async function rebuildProduct(d: RebuildDeps, product: Product): Promise<Rebuilt | null> {
  const connection = d.orm.em.getConnection();
  const rows: OrderRow[] = await connection.execute(
    'select id, status, user_id, ticket_id, quantity, payment_method from orders where product_id = ?', [product.id]);
  // What operators set, read afresh: a process's cached row may predate a change made elsewhere.
  const [row]: { paused: number | boolean; admission_rate_per_sec: number | null; redis_snapshot: unknown }[] = await connection.execute(
    'select paused, admission_rate_per_sec, redis_snapshot from products where id = ?', [product.id]);
  const paused = Boolean(Number(row?.paused ?? 0));
  const rate = row?.admission_rate_per_sec ?? d.config.ADMISSION_RATE_PER_SEC;
  const snapshot = parseSnapshot(row?.redis_snapshot);

  let sold = 0;
  let reserved = 0;
  const held = new Map<string, number>();
  const counts: Record<string, number> = Object.fromEntries(TICKET_STATUSES.map((s) => [s, 0]));
  const pending: OrderRow[] = [];
  for (const r of rows) {
    counts[LEDGER_STATUS[r.status]]++;
    if (r.status === 'paid') sold += r.quantity;
    if (r.status === 'pending') {
      reserved += r.quantity;
      pending.push(r);
    }
    if (r.status === 'paid' || r.status === 'pending') held.set(r.user_id, (held.get(r.user_id) ?? 0) + r.quantity);
  }
  const ordered = new Set(rows.map((r) => r.ticket_id));
  // Waiting tickets that outlived the product's state (a reserved one without an order yet
  // had its units counted nowhere: it waits again too).
  const waiting = (await survivors(d, product)).filter((t) => t.status === 'queued' || (t.status === 'reserved' && !ordered.has(t.id)));
  counts.queued = waiting.length;
  const fields: Record<string, string | number> = {
    type: product.type,
    opensAt: product.type === 'reserve' && product.opensAt ? product.opensAt.getTime() : -1,
    limit: product.type === 'reserve' ? product.perUserLimit : 0,
    total: product.totalStock,
    available: Math.max(0, product.totalStock - sold - reserved),
    reserved,
    sold,
    paused: paused ? 1 : 0,
    seq: Math.max(0, ...waiting.map((t) => t.seq)),
    rate,
    price: product.priceMinor,
    currency: product.currency,
    ...Object.fromEntries(Object.entries(counts).map(([s, n]) => [`t_${s}`, n])),
  };
  const productKeys = d.keys.productScriptKeys(product.id);
  const args = [Object.keys(fields).length, ...Object.entries(fields).flat(), ...[...held].flat()];
  if ((await d.scripts.run('init-product', productKeys, args)) !== 1) return null;

  const restored = (await d.scripts.run('restore-holds', productKeys, [
    d.keys.product(product.id).ticketPrefix, Date.now(), d.config.PAYMENT_HOLD_MS,
    ...pending.flatMap((o) => [o.ticket_id, o.user_id, o.quantity, o.payment_method ?? 'pm_card_ok', o.id]),
  ])) as string[];
  await requeue(d, product, waiting);
  await d.redis.sadd(d.keys.products(), String(product.id));
  if (product.type === 'reserve') {
    const queue = d.queues.get(reserveQueueName(product.id));
    await queue.setGlobalRateLimit(rate, 1000);
    await (paused ? queue.pause() : queue.resume());
  }
  if (snapshot) await recordLoss(d, product, snapshot, waiting.length, restored.length);
  await writeSnapshot(d.orm, product.id, { at: Date.now(), seq: Number(fields.seq), tickets: counts });
  return { restored };
}

/** The product's ticket hashes still in Redis (a scan of its hash tag). */
async function survivors(d: RebuildDeps, product: Product): Promise<Survivor[]> {
  const prefix = d.keys.product(product.id).ticketPrefix;
  const found: Survivor[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await d.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    const pipeline = d.redis.pipeline();
    keys.forEach((k) => pipeline.hmget(k, 'status', 'user', 'seq', 'order'));
    const replies = (await pipeline.exec()) ?? [];
    keys.forEach((k, i) => {
      const [status, user, seq, order] = (replies[i]?.[1] ?? []) as (string | null)[];
      if (status && user) found.push({ id: k.slice(prefix.length), status, user, seq: Number(seq ?? 0), order });
    });
  } while (cursor !== '0');
  return found.sort((a, b) => a.seq - b.seq);
}

/** Puts surviving waiting tickets back in the queue in their old order, with an admission job. */
async function requeue(d: RebuildDeps, product: Product, waiting: Survivor[]): Promise<void> {
  if (waiting.length === 0) return;
  const k = d.keys.product(product.id);
  const jobId = `b${product.id}-${randomId(12)}`;
  const pipeline = d.redis.pipeline();
  for (const t of waiting) {
    pipeline.hset(k.ticketPrefix + t.id, 'status', 'queued', 'job', jobId);
    pipeline.hdel(k.ticketPrefix + t.id, 'resAt');
    pipeline.zadd(k.queued, 'NX', t.seq, t.id);
    pipeline.hset(k.live, t.user, t.id);
  }
  await pipeline.exec();
  // At the head of the line: these tickets are older than any still waiting in a job.
  await d.queues.get(admissionQueueName(product.type, product.id))
    .add('admit', { tickets: waiting.map((t) => t.id) }, { ...jobOptions.admission(jobId), lifo: true });
}

/** What Redis lost of a product, as its last snapshot counted it. */
async function recordLoss(d: RebuildDeps, product: Product, snapshot: RedisSnapshot, requeued: number, restored: number) {
  const t = snapshot.tickets;
  await d.orm.em.getConnection().execute(
    `insert into redis_losses (product_id, detected_at, snapshot_at, queued_lost, ended_lost, admitted_at_snapshot, restored_holds)
     values (?, ?, ?, ?, ?, ?, ?)`,
    [product.id, new Date(), new Date(snapshot.at), Math.max(0, (t.queued ?? 0) - requeued), (t.sold_out ?? 0) + (t.rejected ?? 0),
      snapshot.seq, restored],
    'run',
  );
}

/** Records the product's live counters as Redis has them now (the janitor, and every rebuild). */
export async function writeSnapshot(orm: Orm, productId: number, snapshot: RedisSnapshot): Promise<void> {
  await orm.em.getConnection().execute('update products set redis_snapshot = ? where id = ?', [JSON.stringify(snapshot), productId], 'run');
}

function parseSnapshot(value: unknown): RedisSnapshot | null {
  if (value === null || value === undefined) return null;
  try {
    const s = (typeof value === 'string' ? JSON.parse(value) : value) as RedisSnapshot;
    return typeof s.at === 'number' && s.tickets ? s : null;
  } catch {
    return null;
  }
}
