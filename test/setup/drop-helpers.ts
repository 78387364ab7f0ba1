import { SignJWT } from 'jose';
import { expect } from '@jest/globals';
import { newTicketId } from '../../shared/domain/tickets/ids.ts';
import { connect } from 'node:net';
import { masters } from '../../shared/redis/client.ts';
import { Scripts, type AdmitRequest, type AdmitResult, type FreedUnits, type ProductUpdate, type ReserveResult } from '../../shared/redis/scripts.ts';
import { testRedis, type HttpOptions, type HttpResult, type TestContext } from './context.ts';

export type AdmitOptions = {
  ticketId?: string;
  quantity?: number;
  paymentMethod?: string;
  idempotencyKey?: string;
  ratePerSec?: number;
  maxQueued?: number;
};

/** The product hash as numbers (counters) and strings (type, currency). */
export type ProductState = Record<string, number> & { total: number; available: number; reserved: number; sold: number };

/** The batch size the script helpers pass unless a test gives one. */
const TEST_BATCH = 200;

/**
 * Calls a product's Lua scripts directly through the typed `Scripts` layer, with the
 * arguments the domain code passes, so script tests read like their contract headers.
 * `scripts` lets a test use another connection (to make concurrent calls really interleave).
 */
export function productScripts(ctx: TestContext, productId: number, scripts: Scripts = ctx.deps.scripts) {
  const { keys, redis } = ctx.deps;
  const k = keys.product(productId);
  return {
    productId,
    keys: k,
    /** The product's keys (to delete its live state, as a Redis loss would). */
    productKeys: keys.productScriptKeys(productId),
    /** The request the door would send for this user (see AdmitOptions). */
    request(userId: string, o: AdmitOptions = {}): AdmitRequest {
      return {
        productId,
        ticketId: o.ticketId ?? newTicketId(productId),
        userId,
        quantity: o.quantity ?? 1,
        paymentMethod: o.paymentMethod ?? 'pm_card_ok',
        idempotencyKey: o.idempotencyKey ?? '',
        requestId: 'req-test',
        userRatePerSec: o.ratePerSec ?? 1_000_000,
        maxQueued: o.maxQueued ?? 1_000_000,
        idempotencyTtlS: 3600,
      };
    },
    admit(userId: string, o: AdmitOptions = {}): Promise<AdmitResult> {
      return scripts.admit(this.request(userId, o));
    },
    /** Several requests in one admit.lua call, as the door's coalescer sends them. */
    admitMany(requests: { userId: string; o?: AdmitOptions }[]): Promise<AdmitResult[]> {
      return scripts.admitMany(requests.map(({ userId, o }) => this.request(userId, o)));
    },
    /** The drop's event log as the stream holds it, oldest first. */
    log: async () => (await redis.xrange(k.log, '-', '+')).map(([, f]) => f),
    /** Admits and returns the new ticket id (fails the test when not created). */
    async admitted(userId: string, o: AdmitOptions = {}): Promise<string> {
      const reply = await this.admit(userId, o);
      if (reply.outcome !== 'created') throw new Error(`admit for ${userId}: ${JSON.stringify(reply)}`);
      return reply.ticketId;
    },
    /** reserve.lua for one ticket (and every ticket ahead of it), not rate-limited: its status after. */
    async reserve(ticketId: string): Promise<string> {
      const reply = await this.reserveBatch([ticketId], false);
      if (!reply.loaded) throw new Error(`reserve ${ticketId}: the product is not loaded`);
      return reply.statuses[0];
    },
    /** reserve.lua for a batch (rate-limited unless `limited` is false). */
    reserveBatch(ticketIds: string[], limited = true, max = 1000): Promise<ReserveResult> {
      return scripts.reserve(productId, ticketIds, limited, max);
    },
    settle(ticketId: string, batch = TEST_BATCH): Promise<FreedUnits> {
      return scripts.settle(productId, ticketId, batch);
    },
    settleMany(ticketIds: string[], batch = TEST_BATCH): Promise<FreedUnits[]> {
      return scripts.settleMany(productId, ticketIds, batch);
    },
    release(ticketId: string, status: 'payment_failed' | 'expired' = 'expired', batch = TEST_BATCH): Promise<FreedUnits> {
      return scripts.release(productId, ticketId, status, status === 'expired' ? 'hold_expired' : 'card_declined', batch);
    },
    sweep(batch = TEST_BATCH): Promise<number> {
      return scripts.sweep(productId, batch);
    },
    update(patch: ProductUpdate, batch = TEST_BATCH): Promise<FreedUnits & { committed?: number }> {
      return scripts.updateProduct(productId, patch, batch);
    },
    async state(): Promise<ProductState> {
      const raw = await redis.hgetall(k.product);
      return Object.fromEntries(Object.entries(raw).map(([f, v]) => [f, Number.isNaN(Number(v)) ? v : Number(v)])) as ProductState;
    },
    ticket: (ticketId: string) => redis.hgetall(keys.ticket(productId, ticketId)),
    status: (ticketId: string) => redis.hget(keys.ticket(productId, ticketId), 'status'),
    held: async () => Object.fromEntries(Object.entries(await redis.hgetall(k.held)).map(([u, n]) => [u, Number(n)])),
    waiting: () => redis.zrange(k.waiting, '0', '-1'),
    queued: () => redis.zrange(k.queued, '0', '-1'),
  };
}

export type ProductScripts = ReturnType<typeof productScripts>;

/** Asserts a script's outcome, and lets the test read that outcome's fields. */
export function expectOutcome<R extends { outcome: string }, O extends R['outcome']>(
  reply: R,
  outcome: O,
): asserts reply is Extract<R, { outcome: O }> {
  expect(reply.outcome).toBe(outcome);
}

const STATUSES = ['queued', 'reserved', 'paid', 'sold_out', 'payment_failed', 'expired', 'rejected'];

/**
 * The invariants every script keeps: no unit is created or lost, the t_<status>
 * counters add up to the tickets admitted, and the sets agree with the counters.
 */
export async function expectConsistent(s: ProductScripts, o: { rebuilt?: boolean } = {}): Promise<ProductState> {
  const st = await s.state();
  expect(st.sold + st.reserved + st.available).toBe(st.total);
  expect(Math.min(st.sold, st.reserved, st.available)).toBeGreaterThanOrEqual(0);
  const counted = STATUSES.reduce((n, x) => n + (st[`t_${x}`] ?? 0), 0);
  // A rebuild from the ledger counts tickets it did not admit (seq starts again).
  if (!o.rebuilt) expect(counted).toBe(st.seq ?? 0);
  expect(await s.queued()).toHaveLength(st.t_queued ?? 0);
  const held = Object.values(await s.held()).reduce((a, b) => a + b, 0);
  expect(held).toBe(st.sold + st.reserved);
  return st;
}

/** Extra Redis connections, each with its own registered scripts. */
export function scriptConnections(ctx: TestContext, n: number) {
  const conns = Array.from({ length: n }, () => testRedis());
  const settings = { holdMs: ctx.config.PAYMENT_HOLD_MS, ticketTtlS: ctx.config.TICKET_TTL_S };
  return {
    scripts: conns.map((c) => new Scripts(c, ctx.deps.keys, settings)),
    close: () => Promise.all(conns.map((c) => c.quit())),
  };
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

/**
 * An HTTP client that remembers every status it saw, so a file can assert at the end
 * that no request ever got a 5xx.
 */
export function recordingHttp(ctx: TestContext) {
  const seen: { method: string; path: string; status: number; body: unknown }[] = [];
  const http = async (method: string, path: string, opts?: HttpOptions): Promise<HttpResult> => {
    const res = await ctx.http(method, path, opts);
    seen.push({ method, path, status: res.status, body: res.body });
    return res;
  };
  const expected503 = (r: (typeof seen)[number]) =>
    r.status === 503 && ['paused', 'busy'].includes((r.body as { error?: { code?: string } })?.error?.code ?? '');
  return { http, serverErrors: () => seen.filter((r) => r.status >= 500 && !expected503(r)), seen };
}

/** Tokens a buyer must not get in with. */
export async function badTokens(ctx: TestContext) {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory')
    .setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode('not-the-secret-at-all'));
  const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice')
    .setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(new TextEncoder().encode(ctx.config.JWT_SECRET));
  const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', exp: now + 3600 })}.`;
  const [head, , sig] = (await ctx.token('alice')).split('.');
  const tampered = `${head}.${b64({ sub: 'mallory', exp: now + 3600 })}.${sig}`;
  const notYet = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setNotBefore(now + 600)
    .setExpirationTime('1h').sign(new TextEncoder().encode(ctx.config.JWT_SECRET));
  const noneWithSig = `${unsigned}c2lnbmF0dXJl`;
  return {
    'missing': undefined,
    'forged with another secret': forged,
    'expired': expired,
    'alg none': unsigned,
    'alg none with a signature': noneWithSig,
    'payload changed after signing': tampered,
    'not valid yet (nbf)': notYet,
    'sub with illegal characters': await ctx.token('alice:{p:1}'),
    'sub with a space': await ctx.token('alice bob'),
    'no sub': await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h')
      .sign(new TextEncoder().encode(ctx.config.JWT_SECRET)),
    'not a JWT': 'hello',
  } as Record<string, string | undefined>;
}

/** Asserts the error body every API error has: `{"error": {"code", "message", ...details}}`. */
export function expectError(res: HttpResult, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(typeof res.body.error.message).toBe('string');
  expect(res.body.error.message.length).toBeGreaterThan(0);
  expect(Object.keys(res.body)).toEqual(['error']);
}

/**
 * The commands Redis ran on `key` while `run` ran (those inside scripts included), by name,
 * in order: read from MONITOR on every master, up to a marker command sent after `run`.
 * MONITOR is read off a plain socket: ioredis's own monitor mode sometimes takes the
 * first lines for replies under load ("Command queue state error").
 */
export async function commandsOn(ctx: TestContext, key: string, run: () => Promise<unknown>): Promise<string[]> {
  const marker = `marker-${process.pid}-${Date.now()}`;
  const seen: string[] = [];
  let markerSeen!: () => void;
  const done = new Promise<void>((resolve) => (markerSeen = resolve));
  const sockets = await Promise.all(masters(ctx.deps.redis).map(async (node) => {
    const socket = connect({ host: node.options.host, port: node.options.port ?? 6379 });
    socket.setEncoding('latin1');
    let buffer = '';
    let ready!: () => void;
    const monitoring = new Promise<void>((resolve) => (ready = resolve));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (line === '+OK') ready();
        // +<time> [<db> <client>] "<command>" "<arg>" ...
        const args = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]);
        if (args[1] !== key) continue;
        if (args[2] === marker) markerSeen();
        else seen.push(args[0].toLowerCase());
      }
    });
    socket.write('MONITOR\r\n');
    await monitoring;
    return socket;
  }));
  try {
    await run();
    await ctx.deps.redis.hexists(key, marker);
    await done;
  } finally {
    for (const socket of sockets) socket.destroy();
  }
  return seen;
}
