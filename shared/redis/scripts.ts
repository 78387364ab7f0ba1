import { readFileSync } from 'node:fs';
import { isCluster, type RedisClient } from './client.ts';
import type { Keys } from './keys.ts';

const LUA_DIR = new URL('./lua/', import.meta.url);

/** Script name → number of KEYS it takes (its contract header lists them); null: any number. */
const SCRIPTS = {
  admit: null,
  reserve: 8,
  settle: null,
  release: 9,
  sweep: 8,
  'init-product': 8,
  'update-product': 8,
  'set-fields': 1,
  'restore-holds': 8,
  'read-fields': 1,
  requeue: 8,
  'log-event': 8,
  'drain-log': 8,
  peek: 8,
  'take-tokens': 1,
  'set-orders': null,
  'ticket-place': 3,
} as const satisfies Record<string, number | null>;

type ScriptName = keyof typeof SCRIPTS;
type Reply = string | number | null | Reply[];

/** Reads a script and inlines its `--- @include "name"` lines from `lua/includes/`. */
export function loadLua(name: string): string {
  const source = readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8');
  return source.replace(/^--- @include "([a-z-]+)"$/gm, (_, inc: string) =>
    readFileSync(new URL(`includes/${inc}.lua`, LUA_DIR), 'utf8'),
  );
}

/** What the scripts need from the configuration. */
export type ScriptSettings = {
  /** How long a reservation may stay unpaid (ms). */
  holdMs: number;
  /** How long a terminal ticket stays in Redis (s). */
  ticketTtlS: number;
};

/** Tickets one script call ends or hands units to at most: a Lua script blocks Redis while it runs. */
export const SCRIPT_BATCH = 50;

/**
 * The shape of every script that frees units (settle, release, update-product): what became
 * of the ticket or product, the parked tickets that got the units (oldest first: the caller
 * hands them on), and how many queued tickets are left to end sold out (the caller sweeps).
 */
export type FreedUnits = { outcome: string; promoted: string[]; remaining: number };

export type AdmitRequest = {
  productId: number;
  ticketId: string;
  userId: string;
  quantity: number;
  paymentMethod: string;
  idempotencyKey?: string;
  requestId?: string;
  /** Purchase requests one buyer may send per second. */
  userRatePerSec: number;
  /** Queued tickets before `busy`. */
  maxQueued: number;
  idempotencyTtlS: number;
  /** The admission job (batch) the ticket will be added to, for the janitor. */
  jobId?: string;
  /** The ticket's lottery order key, when the product has a pre-queue (see lotteryKey). */
  lotteryKey?: string;
};

export type AdmitResult =
  | { outcome: 'created'; ticketId: string; position: number | null; ratePerSecond: number; measuredPerSecond: number;
    drawAtMs: number | null; preQueued: number; nowMs: number }
  | { outcome: 'existing'; ticketId: string }
  | { outcome: 'not_loaded' | 'paused' | 'sold_out' | 'busy' }
  | { outcome: 'not_open'; opensAtMs: number; nowMs: number; queueOpensAtMs: number | null }
  | { outcome: 'over_limit'; limit: number; held: number }
  | { outcome: 'rate_limited'; retryAfterMs: number };

/** A hold reserve.lua made in this call: what fulfilling it needs, without reading the ticket. */
export type NewHold = { userId: string; quantity: number; heldAtMs: number; paymentMethod: string };

/** One ticket of a reserve call: its status after it, and the hold it just got, if any. */
export type ReservedTicket = { ticketId: string; status: string; requestId?: string; hold?: NewHold };

export type ReserveResult =
  | { loaded: false }
  | {
    loaded: true;
    /** Tickets taken from the head of the queue by this call (any job's), in queue order. */
    tickets: ReservedTicket[];
    /** The status of each ticket the call was asked about, after it. */
    statuses: string[];
    /** How many of the tickets asked about are still pending. */
    left: number;
    /** > 0 when the caller must wait: no tokens left, or the drop is not open yet (ms). */
    waitMs: number;
    /** This call ended a ticket sold out: the caller sweeps the queue. */
    endedSoldOut: boolean;
  };

export type ProductUpdate = { stock?: number; opensAtMs?: number; perUserLimit?: number; queueOpensAtMs?: number };

/** A ticket queued again after a rebuild, with its old place (requeue.lua). */
export type Requeued = { ticketId: string; userId: string; quantity: number; paymentMethod: string; orderKey: string; requestId: string };

/** One event of a drop's log as the stream holds it (docs/event-log.md). */
export type StreamEvent = { id: string; type: string; ticketId: string; userId: string; qty: number; orderKey: string; extra: string; hash: string };

/** A pending order whose hold a rebuild gives back (restore-holds.lua). */
export type PendingHold = { ticketId: string; userId: string; quantity: number; paymentMethod: string; orderId: number };

/**
 * The project's Lua scripts, one typed method each (the style of BullMQ's `scripts.ts`):
 * named parameters in, a typed result out; KEYS and ARGV are built here and nowhere else,
 * in the order each script's contract header gives. Registered once per connection with
 * `defineCommand` (EVALSHA, falling back to EVAL after a script flush).
 */
export class Scripts {
  private readonly redis: RedisClient;
  private readonly keys: Keys;
  private readonly settings: ScriptSettings;

  constructor(redis: RedisClient, keys: Keys, settings: ScriptSettings) {
    this.redis = redis;
    this.keys = keys;
    this.settings = settings;
    for (const [name, numberOfKeys] of Object.entries(SCRIPTS)) {
      redis.defineCommand(commandName(name), { numberOfKeys: numberOfKeys ?? undefined, lua: loadLua(name) });
    }
  }

  /** Admits a purchase at the door, or says why not (admit.lua). */
  async admit(r: AdmitRequest): Promise<AdmitResult> {
    return (await this.admitMany([r]))[0];
  }

  /**
   * Admits purchases of one product in one script call, in order, each decided as if alone
   * after the ones before it (admit.lua); one answer per request. The settings
   * (`userRatePerSec`, `maxQueued`, `idempotencyTtlS`) are the first request's.
   */
  async admitMany(rs: readonly AdmitRequest[]): Promise<AdmitResult[]> {
    const [first] = rs;
    if (!first) return [];
    const k = this.keys;
    const keys = k.productScriptKeys(first.productId).slice();
    const args: (string | number)[] = [first.userRatePerSec, first.maxQueued, first.idempotencyTtlS];
    for (const r of rs) {
      if (r.productId !== first.productId || r.userRatePerSec !== first.userRatePerSec || r.maxQueued !== first.maxQueued || r.idempotencyTtlS !== first.idempotencyTtlS) {
        throw new Error('admitMany takes requests for one product, with the same settings');
      }
      keys.push(k.ticket(r.productId, r.ticketId), k.idempotency(r.productId, r.userId, r.idempotencyKey ?? ''), k.userRate(r.productId, r.userId));
      args.push(r.ticketId, r.userId, r.quantity, r.paymentMethod, r.idempotencyKey ?? '', r.requestId ?? '', r.jobId ?? '', r.lotteryKey ?? '');
    }
    const replies = await this.run('admit', keys, args) as [string, ...(string | number)[]][];
    return replies.map(admitResult);
  }

  /**
   * The stock worker's step (reserve.lua): takes tickets from the head of the product's
   * queue until none of `ticketIds` (an admission job's) is pending or `max` were taken;
   * `rateLimited` spends the product's admission tokens (tickets per second).
   */
  async reserve(productId: number, ticketIds: string[], rateLimited: boolean, max = 25): Promise<ReserveResult> {
    const reply = await this.run('reserve', this.keys.productScriptKeys(productId),
      [this.settings.holdMs, this.settings.ticketTtlS, rateLimited ? 1 : 0, this.prefix(productId), max, ...ticketIds]) as Reply[];
    const [left, waitMs, endedSoldOut, n] = reply as number[];
    if (left === -1) return { loaded: false };
    const taken = reply.slice(4, 4 + Number(n)) as Reply[][];
    const tickets = taken.map(([id, status, rid, user, qty, heldAt, pm]): ReservedTicket => ({
      ticketId: String(id),
      status: String(status),
      ...(rid ? { requestId: String(rid) } : {}),
      ...(user !== undefined && user !== null
        ? { hold: { userId: String(user), quantity: Number(qty), heldAtMs: Number(heldAt), paymentMethod: String(pm ?? '') } }
        : {}),
    }));
    const statuses = reply.slice(4 + Number(n)).map(String);
    return { loaded: true, tickets, statuses, left: Number(left), waitMs: Number(waitMs), endedSoldOut: endedSoldOut === 1 };
  }

  /** Records a successful charge: the held units become sold (settle.lua). */
  async settle(productId: number, ticketId: string, batch = SCRIPT_BATCH): Promise<FreedUnits> {
    return (await this.settleMany(productId, [ticketId], batch))[0];
  }

  /**
   * Records successful charges of one product's tickets in one script call, in order; one
   * answer per ticket. The parked tickets promoted (and the count left to sweep) go with
   * the last ticket the call paid (settle.lua).
   */
  async settleMany(productId: number, ticketIds: readonly string[], batch = SCRIPT_BATCH): Promise<FreedUnits[]> {
    if (ticketIds.length === 0) return [];
    const keys = [...this.keys.productScriptKeys(productId), ...ticketIds.map((id) => this.keys.ticket(productId, id))];
    const replies = await this.run('settle', keys, [this.prefix(productId), this.settings.ticketTtlS, this.settings.holdMs, batch, ...ticketIds]);
    return (replies as Reply[]).map(freed);
  }

  /** Ends a reserved ticket and gives its units back, once (release.lua). */
  async release(productId: number, ticketId: string, status: 'payment_failed' | 'expired' | 'rejected', reason: string, batch = SCRIPT_BATCH): Promise<FreedUnits> {
    return freed(await this.run('release', this.ticketKeys(productId, ticketId),
      [ticketId, this.prefix(productId), status, reason, this.settings.ticketTtlS, this.settings.holdMs, batch]));
  }

  /** Ends queued tickets sold out once nothing can come back, a batch per call; how many are left (sweep.lua). */
  async sweep(productId: number, batch = SCRIPT_BATCH): Promise<number> {
    return Number(await this.run('sweep', this.keys.productScriptKeys(productId), [this.prefix(productId), this.settings.ticketTtlS, batch]));
  }

  /** An operator's change to a live product (update-product.lua); `committed` with `below_committed`. */
  async updateProduct(productId: number, change: ProductUpdate, batch = 200): Promise<FreedUnits & { committed?: number }> {
    const reply = await this.run('update-product', this.keys.productScriptKeys(productId), [
      change.stock ?? '', change.opensAtMs ?? '', change.perUserLimit ?? '',
      this.prefix(productId), this.settings.ticketTtlS, this.settings.holdMs, batch, change.queueOpensAtMs ?? '',
    ]) as Reply[];
    return { ...freed(reply), ...(reply[3] !== undefined ? { committed: Number(reply[3]) } : {}) };
  }

  /**
   * Loads a product's live state unless it is there; true when it loaded it (init-product.lua).
   * `loaded` is the log's `loaded` event, `chain` the hash of the last event MySQL has.
   */
  async initProduct(productId: number, fields: Record<string, string | number>, held: Map<string, number>, loaded: string, chain: string): Promise<boolean> {
    const args = [loaded, chain, Object.keys(fields).length, ...Object.entries(fields).flat(), ...[...held].flat()];
    return (await this.run('init-product', this.keys.productScriptKeys(productId), args)) === 1;
  }

  /** After a rebuild: pending orders hold their units again; the tickets given back (restore-holds.lua). */
  async restoreHolds(productId: number, holds: PendingHold[], nowMs = Date.now()): Promise<string[]> {
    return (await this.run('restore-holds', this.keys.productScriptKeys(productId), [
      this.prefix(productId), nowMs, this.settings.holdMs,
      ...holds.flatMap((h) => [h.ticketId, h.userId, h.quantity, h.paymentMethod, h.orderId]),
    ])) as string[];
  }

  /** After a rebuild: lost tickets that were waiting queue again in their old place; the ids queued (requeue.lua). */
  async requeue(productId: number, tickets: Requeued[], jobId: string, nowMs = Date.now()): Promise<string[]> {
    if (tickets.length === 0) return [];
    return (await this.run('requeue', this.keys.productScriptKeys(productId), [
      this.prefix(productId), nowMs, jobId,
      ...tickets.flatMap((t) => [t.ticketId, t.userId, t.quantity, t.paymentMethod, t.orderKey, t.requestId]),
    ])) as string[];
  }

  /** Appends an event no other script writes (a refund, a status the ledger settled); false when the product is not loaded. */
  async logEvent(productId: number, e: Omit<StreamEvent, 'id' | 'hash'>): Promise<boolean> {
    return (await this.run('log-event', this.keys.productScriptKeys(productId),
      [e.type, e.ticketId, e.userId, e.qty, e.orderKey, e.extra])) === 1;
  }

  /** The oldest `max` events of a drop's log, and the door's refusal counts since the last drain (taken). */
  async drainRead(productId: number, max: number): Promise<{ events: StreamEvent[]; refusals: Record<string, number> }> {
    // Both leave at once: one round trip. The events are a plain command's reply (see drain-log.lua).
    const [refusals, entries] = await Promise.all([
      this.run('drain-log', this.keys.productScriptKeys(productId), ['refusals']) as Promise<(string | number)[]>,
      this.redis.xrange(this.keys.product(productId).log, '-', '+', 'COUNT', max),
    ]);
    const events = entries.map(([id, f]) => {
      const v = pairs(f);
      return { id, type: v.e ?? '', ticketId: v.t ?? '', userId: v.u ?? '', qty: Number(v.q ?? 0), orderKey: v.s ?? '', extra: v.x ?? '', hash: v.h ?? '' };
    });
    const counts: Record<string, number> = {};
    for (const [code, n] of Object.entries(pairs(refusals))) counts[code] = Number(n);
    return { events, refusals: counts };
  }

  /**
   * What the janitor would find to do for a product (peek.lua): its queued tickets, its
   * holds due at or before `overdueAtMs`, the events in its log and the refusals not yet
   * drained.
   */
  async peek(productId: number, overdueAtMs: number): Promise<ProductChores> {
    return choresOf(await this.run('peek', this.keys.productScriptKeys(productId), [overdueAtMs]));
  }

  /** {@link peek} of several products: in one pipeline on one server (see {@link each}). */
  async peekEach(productIds: number[], overdueAtMs: number): Promise<ProductChores[]> {
    return (await this.each('peek', productIds.map((id) => this.keys.productScriptKeys(id)), [overdueAtMs])).map(choresOf);
  }

  /** Trims the log up to and including `lastId` (MySQL has it); the events left. */
  async drainTrim(productId: number, lastId: string): Promise<number> {
    return Number(await this.run('drain-log', this.keys.productScriptKeys(productId), ['trim', lastId]));
  }

  /** Fields of a product's hash and the clock of its shard, in one call (read-fields.lua). */
  async readFields(productId: number, fields: readonly string[]): Promise<ReadFields> {
    return readFieldsOf(await this.run('read-fields', [this.keys.product(productId).product], [...fields]), fields);
  }


  /**
   * A ticket's fields, its rank in the queue (null when not queued), the product's rate,
   * measured rate and opening instant, the pre-queue's size and the shard's clock, in one
   * call (ticket-place.lua).
   */
  async ticketPlace(productId: number, ticketId: string): Promise<{
    fields: Record<string, string>; rank: number | null; rate: (string | null)[]; preQueued: number; nowMs: number;
  }> {
    const k = this.keys.product(productId);
    const [flat, rank, rate, preQueued, [sec, micro]] = await this.run('ticket-place', [k.ticketPrefix + ticketId, k.queued, k.product], [ticketId]) as
      [string[], number, (string | null)[], number, [string, string]];
    return { fields: pairs(flat), rank: rank >= 0 ? rank : null, rate, preQueued: Number(preQueued), nowMs: timeMs(sec, micro) };
  }

  /** Records the orders of one product's tickets and their payment job, on each ticket that still exists (set-orders.lua). */
  async setOrders(productId: number, orders: { ticketId: string; orderId: number }[], payJob: string): Promise<boolean[]> {
    if (orders.length === 0) return [];
    const set = await this.run('set-orders', orders.map((o) => this.keys.ticket(productId, o.ticketId)), [payJob, ...orders.map((o) => o.orderId)]) as number[];
    return set.map((v) => v === 1);
  }

  /** Takes up to `want` tokens of a shared bucket of `ratePerSec` (take-tokens.lua). */
  async takeTokens(key: string, ratePerSec: number, want: number): Promise<{ granted: number; waitMs: number }> {
    const [granted, waitMs] = await this.run('take-tokens', [key], [ratePerSec, want]) as number[];
    return { granted, waitMs };
  }

  /**
   * Sets fields of a ticket (guard `status`) or product hash (guard `total`) only while it
   * still exists (set-fields.lua); false when Redis no longer has it.
   */
  async setExisting(key: string, guard: 'status' | 'total', fields: Record<string, string | number>): Promise<boolean> {
    return (await this.run('set-fields', [key], [guard, ...Object.entries(fields).flat()])) === 1;
  }

  private prefix(productId: number): string {
    return this.keys.product(productId).ticketPrefix;
  }

  private ticketKeys(productId: number, ticketId: string): string[] {
    return [...this.keys.productScriptKeys(productId), this.keys.ticket(productId, ticketId)];
  }

  /**
   * One script run for each product (its keys), the same arguments for all. On one server
   * the calls go in one pipeline: one write and one read instead of one each, which is most
   * of what a cheap script costs the caller (the janitor peeks at every product every
   * second). On a Redis Cluster the products live on different shards: one call each. As
   * with separate calls, one that fails fails the whole (ioredis sends a script Redis has
   * forgotten again by itself, in a pipeline too).
   */
  private async each(name: ScriptName, keysOfEach: string[][], args: (string | number)[]): Promise<Reply[]> {
    if (keysOfEach.length <= 1 || isCluster(this.redis)) return Promise.all(keysOfEach.map((keys) => this.run(name, keys, args)));
    const pipeline = this.redis.pipeline();
    const call = (pipeline as unknown as Record<string, (...a: (string | number)[]) => unknown>)[commandName(name)];
    for (const keys of keysOfEach) call.call(pipeline, ...this.withCount(name, keys), ...args);
    const results = (await pipeline.exec()) ?? [];
    return keysOfEach.map((_, i) => {
      const [err, reply] = results[i] ?? [new Error(`${name}: no reply in the pipeline`)];
      if (err) throw err;
      return reply as Reply;
    });
  }

  /** The keys as a script's command takes them: with their count first when the script takes any number. */
  private withCount(name: ScriptName, keys: string[]): (string | number)[] {
    const expected: number | null = SCRIPTS[name];
    if (expected !== null && keys.length !== expected) throw new Error(`${name} takes ${expected} keys, got ${keys.length}`);
    return expected === null ? [keys.length, ...keys] : keys;
  }

  private run(name: ScriptName, keys: string[], args: (string | number)[]): Promise<Reply> {
    const command = (this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<Reply>>)[commandName(name)];
    // A script that takes any number of keys is told how many come first.
    return command.call(this.redis, ...this.withCount(name, keys), ...args);
  }
}

/** What peek.lua counts for a product: its queued tickets, overdue holds, logged events and undrained refusals. */
export type ProductChores = { queued: number; overdue: number; logged: number; refusals: number };

function choresOf(reply: Reply): ProductChores {
  const [queued, overdue, logged, refusals] = reply as number[];
  return { queued, overdue, logged, refusals };
}

/** Fields of a product's hash (null: missing) and its shard's clock. */
export type ReadFields = { values: (string | null)[]; serverTimeMs: number };

function readFieldsOf(reply: Reply, fields: readonly string[]): ReadFields {
  const flat = reply as (string | null)[];
  // Lua turns a missing field into false, which ioredis gives as null.
  return { values: fields.map((_, i) => flat[2 + i] ?? null), serverTimeMs: timeMs(flat[0], flat[1]) };
}

/** A flat {field, value, ...} reply (HGETALL, a stream entry's fields) as a record. */
function pairs(flat: readonly (string | number | null)[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

/** Redis TIME's {seconds, microseconds} as epoch milliseconds. */
export const timeMs = (sec: string | number | null, micro: string | number | null) => Number(sec) * 1000 + Math.floor(Number(micro) / 1000);

function admitResult(reply: [string, ...(string | number)[]]): AdmitResult {
  const [outcome, a, b, c, d, e, f, g] = reply;
  switch (outcome) {
    case 'created': return {
      outcome, ticketId: String(a), position: Number(b) >= 0 ? Number(b) : null, ratePerSecond: Number(c),
      measuredPerSecond: Number(d), drawAtMs: Number(e) >= 0 ? Number(e) : null, preQueued: Number(f), nowMs: Number(g),
    };
    case 'existing': return { outcome, ticketId: String(a) };
    case 'not_open': return { outcome, opensAtMs: Number(a), nowMs: Number(b), queueOpensAtMs: Number(c) >= 0 ? Number(c) : null };
    case 'over_limit': return { outcome, limit: Number(a), held: Number(b) };
    case 'rate_limited': return { outcome, retryAfterMs: Number(a) };
    case 'not_loaded': case 'paused': case 'sold_out': case 'busy': return { outcome };
    default: throw new Error(`admit.lua answered ${String(outcome)}`);
  }
}

function freed(reply: Reply): FreedUnits {
  const [outcome, promoted, remaining] = reply as [string, string[], number];
  return { outcome, promoted: promoted ?? [], remaining: Number(remaining ?? 0) };
}

const commandName = (name: string) => `drop_${name.replace(/-/g, '_')}`;
