import { readFileSync } from 'node:fs';
import type { RedisClient } from './client.ts';
import type { Keys } from './keys.ts';

const LUA_DIR = new URL('./lua/', import.meta.url);

/** Script name → number of KEYS it takes (its contract header lists them); null: any number. */
const SCRIPTS = {
  admit: 9,
  reserve: null,
  settle: 7,
  release: 7,
  sweep: 6,
  'init-product': 6,
  'update-product': 6,
  'set-fields': 1,
  'restore-holds': 6,
  'read-fields': 1,
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
};

export type AdmitResult =
  | { outcome: 'created'; ticketId: string; position: number; ratePerSecond: number }
  | { outcome: 'existing'; ticketId: string }
  | { outcome: 'not_loaded' | 'paused' | 'sold_out' | 'busy' }
  | { outcome: 'not_open'; opensAtMs: number; nowMs: number }
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
    /** Tickets reserved, parked or ended (the first `tickets.length` of the call). */
    tickets: ReservedTicket[];
    /** > 0 when the admission rate had no tokens left for the rest: wait this long (ms). */
    waitMs: number;
    /** This call ended a ticket sold out: the caller sweeps the queue. */
    endedSoldOut: boolean;
  };

export type ProductUpdate = { stock?: number; opensAtMs?: number; perUserLimit?: number };

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
    const k = this.keys;
    const reply = await this.run('admit', [
      ...k.productScriptKeys(r.productId), k.ticket(r.productId, r.ticketId),
      k.idempotency(r.productId, r.userId, r.idempotencyKey ?? ''), k.userRate(r.productId, r.userId),
    ], [
      r.ticketId, r.userId, r.quantity, r.paymentMethod, r.idempotencyKey ?? '', r.requestId ?? '',
      r.userRatePerSec, r.maxQueued, r.idempotencyTtlS, r.jobId ?? '',
    ]) as [string, ...(string | number)[]];
    const [outcome, a, b, c] = reply;
    switch (outcome) {
      case 'created': return { outcome, ticketId: String(a), position: Number(b), ratePerSecond: Number(c) };
      case 'existing': return { outcome, ticketId: String(a) };
      case 'not_open': return { outcome, opensAtMs: Number(a), nowMs: Number(b) };
      case 'over_limit': return { outcome, limit: Number(a), held: Number(b) };
      case 'rate_limited': return { outcome, retryAfterMs: Number(a) };
      case 'not_loaded': case 'paused': case 'sold_out': case 'busy': return { outcome };
      default: throw new Error(`admit.lua answered ${String(outcome)}`);
    }
  }

  /**
   * The stock worker's step for a batch of one product's queued tickets, in order
   * (reserve.lua): each gets a hold, is parked, or ends; `rateLimited` spends the
   * product's admission tokens (tickets per second).
   */
  async reserve(productId: number, ticketIds: string[], rateLimited: boolean): Promise<ReserveResult> {
    const reply = await this.run('reserve',
      [...this.keys.productScriptKeys(productId), ...ticketIds.map((id) => this.keys.ticket(productId, id))],
      [this.settings.holdMs, this.settings.ticketTtlS, rateLimited ? 1 : 0, ...ticketIds]) as [number, number, number, ...Reply[][]];
    const [handled, waitMs, endedSoldOut, ...results] = reply;
    if (handled === -1) return { loaded: false };
    const tickets = results.map(([status, rid, user, qty, heldAt, pm], i): ReservedTicket => ({
      ticketId: ticketIds[i],
      status: String(status),
      ...(rid ? { requestId: String(rid) } : {}),
      ...(user !== undefined && user !== null
        ? { hold: { userId: String(user), quantity: Number(qty), heldAtMs: Number(heldAt), paymentMethod: String(pm ?? '') } }
        : {}),
    }));
    return { loaded: true, tickets, waitMs: Number(waitMs), endedSoldOut: endedSoldOut === 1 };
  }

  /** Records a successful charge: the held units become sold (settle.lua). */
  async settle(productId: number, ticketId: string, batch = SCRIPT_BATCH): Promise<FreedUnits> {
    return freed(await this.run('settle', this.ticketKeys(productId, ticketId),
      [ticketId, this.prefix(productId), this.settings.ticketTtlS, this.settings.holdMs, batch]));
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
      this.prefix(productId), this.settings.ticketTtlS, this.settings.holdMs, batch,
    ]) as Reply[];
    return { ...freed(reply), ...(reply[3] !== undefined ? { committed: Number(reply[3]) } : {}) };
  }

  /** Loads a product's live state unless it is there; true when it loaded it (init-product.lua). */
  async initProduct(productId: number, fields: Record<string, string | number>, held: Map<string, number>): Promise<boolean> {
    const args = [Object.keys(fields).length, ...Object.entries(fields).flat(), ...[...held].flat()];
    return (await this.run('init-product', this.keys.productScriptKeys(productId), args)) === 1;
  }

  /** After a rebuild: pending orders hold their units again; the tickets given back (restore-holds.lua). */
  async restoreHolds(productId: number, holds: PendingHold[], nowMs = Date.now()): Promise<string[]> {
    return (await this.run('restore-holds', this.keys.productScriptKeys(productId), [
      this.prefix(productId), nowMs, this.settings.holdMs,
      ...holds.flatMap((h) => [h.ticketId, h.userId, h.quantity, h.paymentMethod, h.orderId]),
    ])) as string[];
  }

  /** Fields of a product's hash and the clock of its shard, in one call (read-fields.lua). */
  async readFields(productId: number, fields: readonly string[]): Promise<{ values: (string | null)[]; serverTimeMs: number }> {
    const reply = await this.run('read-fields', [this.keys.product(productId).product], [...fields]) as (string | null)[];
    const [sec, micro] = reply;
    // Lua turns a missing field into false, which ioredis gives as null.
    const values = fields.map((_, i) => reply[2 + i] ?? null);
    return { values, serverTimeMs: Number(sec) * 1000 + Math.floor(Number(micro) / 1000) };
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

  private run(name: ScriptName, keys: string[], args: (string | number)[]): Promise<Reply> {
    const expected: number | null = SCRIPTS[name];
    if (expected !== null && keys.length !== expected) throw new Error(`${name} takes ${expected} keys, got ${keys.length}`);
    const command = (this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<Reply>>)[commandName(name)];
    // A script that takes any number of keys is told how many come first.
    return expected === null ? command.call(this.redis, keys.length, ...keys, ...args) : command.call(this.redis, ...keys, ...args);
  }
}

function freed(reply: Reply): FreedUnits {
  const [outcome, promoted, remaining] = reply as [string, string[], number];
  return { outcome, promoted: promoted ?? [], remaining: Number(remaining ?? 0) };
}

const commandName = (name: string) => `drop_${name.replace(/-/g, '_')}`;
