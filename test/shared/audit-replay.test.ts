import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import {
  chainHash,
  commitmentOf,
  lotteryKey,
  replay,
  type LedgerFacts,
  type LogEvent,
  type Verdict,
} from '../../shared/domain/audit/replay.ts';

const SEED = '0123456789abcdef'.repeat(4);
const NO_LOTTERY = { commitment: null, seed: null };

/** A drop's log as the Lua scripts would write it: ids in order, each event chained to the last. */
class Log {
  readonly events: LogEvent[] = [];
  private readonly keys = new Map<string, string>();
  private prev: string;
  private i = 0;

  constructor(chainStart = '') {
    this.prev = chainStart;
  }

  add(type: string, f: Partial<Omit<LogEvent, 'id' | 'type' | 'hash'>> = {}, restart = false): this {
    const e = { type, ticketId: f.ticketId ?? '', userId: f.userId ?? '', qty: f.qty ?? 0, orderKey: f.orderKey ?? '', extra: f.extra ?? '' };
    const hash = chainHash(restart ? '' : this.prev, e);
    this.events.push({ id: `${1_750_000_000_000 + Math.floor(this.i / 4)}-${this.i % 4}`, ...e, hash });
    this.i++;
    this.prev = hash;
    return this;
  }

  loaded(c: { total: number; available?: number; reserved?: number; sold?: number }, commitment: string | null = null, restart = false): this {
    const x = { total: c.total, available: c.available ?? c.total, reserved: c.reserved ?? 0, sold: c.sold ?? 0, opensAt: 1_750_000_000_000, queueOpensAt: commitment ? 1_749_999_000_000 : null, commitment };
    return this.add('loaded', { qty: c.total, extra: JSON.stringify(x) }, restart);
  }

  admit(ticketId: string, key: number | string, opts: { pre?: boolean; qty?: number } = {}): this {
    this.keys.set(ticketId, String(key));
    return this.add('admitted', { ticketId, userId: `u-${ticketId}`, qty: opts.qty ?? 1, orderKey: String(key), extra: 'pm_card_ok' });
  }

  /** A ticket event (reserved, paid, sold_out...) carrying the ticket's order key. */
  t(type: string, ticketId: string, qty = 1, extra = ''): this {
    return this.add(type, { ticketId, userId: `u-${ticketId}`, qty, orderKey: this.keys.get(ticketId) ?? '', extra });
  }
}

const codes = (v: Verdict) => v.violations.map((x) => x.code);

/** Three units, five buyers: three reserve and pay, two end sold out. */
function cleanDrop(): Log {
  const log = new Log().loaded({ total: 3 });
  for (let k = 1; k <= 5; k++) log.admit(`t${k}`, k);
  for (const id of ['t1', 't2', 't3']) log.t('reserved', id);
  for (const id of ['t1', 't2', 't3']) log.t('paid', id);
  return log.t('sold_out', 't4').t('sold_out', 't5');
}

const ledgerOf = (paid: string[], units = paid.length): LedgerFacts => ({
  paidOrders: paid.length,
  paidUnits: units,
  chargesPerTicket: new Map(paid.map((id) => [id, 1])),
});

describe('replay: a drop that kept every rule', () => {
  it('passes a clean drop and reports its counters and tickets', () => {
    const v = replay(cleanDrop().events, NO_LOTTERY, ledgerOf(['t1', 't2', 't3']));
    expect(v.violations).toEqual([]);
    expect(v).toMatchObject({
      ok: true,
      events: 14,
      violationCount: 0,
      tickets: { admitted: 5, preQueued: 0, byStatus: { paid: 3, sold_out: 2 } },
      stock: { total: 3, available: 0, reserved: 0, sold: 3 },
      lottery: { commitment: null, seedRevealed: false, verified: null },
    });
  });

  it('passes units coming back and going to the parked ticket first', () => {
    const log = new Log().loaded({ total: 2 });
    for (let k = 1; k <= 4; k++) log.admit(`t${k}`, k);
    log.t('reserved', 't1').t('reserved', 't2').t('parked', 't3').t('payment_failed', 't2').t('promoted', 't3');
    log.t('paid', 't1').t('paid', 't3').t('sold_out', 't4').t('refunded', 't2');
    const v = replay(log.events, NO_LOTTERY, { paidOrders: 2, paidUnits: 2, chargesPerTicket: new Map([['t1', 1], ['t3', 1]]) });
    expect(v.violations).toEqual([]);
    expect(v.tickets.byStatus).toEqual({ paid: 2, payment_failed: 1, sold_out: 1 });
  });

  it('passes a rebuild: the chain restarts at loaded, a hold is restored and a lost ticket requeued', () => {
    const log = new Log().loaded({ total: 2 }).admit('t1', 1).admit('t2', 2).t('reserved', 't1');
    log.loaded({ total: 2, available: 1, reserved: 1 }, null, true).t('restored', 't1', 1, 'order-1').t('requeued', 't2');
    log.t('reserved', 't2').t('paid', 't1').t('paid', 't2');
    const v = replay(log.events, NO_LOTTERY, ledgerOf(['t1', 't2']));
    expect(v.violations).toEqual([]);
    expect(v.stock).toEqual({ total: 2, available: 0, reserved: 0, sold: 2 });
  });

  it('continues a chain from opts.chainStart, and breaks without it', () => {
    const start = chainHash('', { type: 'x', ticketId: '', userId: '', qty: 0, orderKey: '', extra: '' });
    const log = new Log(start).add('stock', { qty: 0 });
    expect(replay(log.events, NO_LOTTERY, null, { chainStart: start }).ok).toBe(true);
    expect(codes(replay(log.events, NO_LOTTERY, null))).toEqual(['chain_broken']);
  });

  it('passes an operator raising the stock, which frees the sold-out rule', () => {
    const log = new Log().loaded({ total: 1 }).admit('t1', 1).admit('t2', 2).t('reserved', 't1').t('paid', 't1');
    log.add('stock', { qty: 2 }).t('reserved', 't2').t('paid', 't2');
    expect(replay(log.events, NO_LOTTERY, ledgerOf(['t1', 't2'])).violations).toEqual([]);
  });
});

describe('replay: the pre-queue lottery', () => {
  /** Five pre-queued tickets with their HMAC keys and one admitted after opensAt, served in `order`. */
  function lotteryDrop(order: (ids: string[]) => string[]): Log {
    const pre = ['p1', 'p2', 'p3', 'p4', 'p5'];
    const log = new Log().loaded({ total: 6 }, commitmentOf(SEED));
    for (const id of pre) log.admit(id, lotteryKey(SEED, id), { pre: true });
    log.admit('late', 1);
    const byKey = [...pre].sort((a, b) => (BigInt(lotteryKey(SEED, a)) < BigInt(lotteryKey(SEED, b)) ? -1 : 1));
    for (const id of [...order(byKey), 'late']) log.t('reserved', id).t('paid', id);
    return log;
  }

  it('passes tickets served in lottery order, and verifies the revealed seed', () => {
    const v = replay(lotteryDrop((ids) => ids).events, { commitment: null, seed: SEED }, null);
    expect(v.violations).toEqual([]);
    expect(v.tickets).toMatchObject({ admitted: 6, preQueued: 5 });
    expect(v.lottery).toEqual({ commitment: commitmentOf(SEED), seedRevealed: true, verified: true });
  });

  it('does not hold an unrevealed seed against the drop', () => {
    const v = replay(lotteryDrop((ids) => ids).events, NO_LOTTERY, null);
    expect(v.ok).toBe(true);
    expect(v.lottery).toEqual({ commitment: commitmentOf(SEED), seedRevealed: false, verified: null });
  });

  it('fails a ticket served before one with a lower key', () => {
    const v = replay(lotteryDrop(([a, b, ...rest]) => [b!, a!, ...rest]).events, { commitment: null, seed: SEED }, null);
    expect(codes(v)).toEqual(['out_of_queue_order']);
    const byKey = ['p1', 'p2', 'p3', 'p4', 'p5'].sort((a, b) => (BigInt(lotteryKey(SEED, a)) < BigInt(lotteryKey(SEED, b)) ? -1 : 1));
    expect(v.violations[0]!.ticketId).toBe(byKey[1]);
    expect(v.violations[0]!.message).toContain(byKey[0]!);
  });

  it('fails a seed that does not hash to the commitment', () => {
    const wrong = 'f'.repeat(64);
    const v = replay(lotteryDrop((ids) => ids).events, { commitment: null, seed: wrong }, null);
    expect(codes(v)).toContain('commitment_mismatch');
    expect(codes(v)).toContain('lottery_mismatch');
    expect(v.lottery.verified).toBe(false);
    expect(codes(replay([], { commitment: commitmentOf('short'), seed: 'short' }, null))).toEqual(['bad_seed']);
  });

  it('fails a pre-queued key that is not the HMAC of the seed, and a commitment changed by a reload', () => {
    const log = new Log().loaded({ total: 1 }, commitmentOf(SEED)).admit('p1', -5, { pre: true }).t('reserved', 'p1').t('paid', 'p1');
    log.loaded({ total: 1, available: 0, sold: 1 }, commitmentOf('other'));
    const v = replay(log.events, { commitment: null, seed: SEED }, null);
    expect(codes(v).sort()).toEqual(['commitment_changed', 'lottery_mismatch']);
  });

  it('computes lotteryKey as HMAC-SHA256(seed, ticketId) first 52 bits − 2^52', () => {
    // Computed with Python's hmac/hashlib, not this module.
    expect(lotteryKey(SEED, 't-01J9Z3K7')).toBe('-3723151408743873');
    expect(lotteryKey(SEED, 'ticket-42')).toBe('-1844236860882148');
    expect(commitmentOf(SEED)).toBe('a8ae6e6ee929abea3afcfc5258c8ccd6f85273e0d4626d26c7279f3250f77c8e');
    const hex = createHmac('sha256', SEED).update('t-01J9Z3K7').digest('hex');
    expect(hex.slice(0, 13)).toBe('2c5d042d63a3f');
    expect(lotteryKey(SEED, 't-01J9Z3K7')).toBe(String(BigInt(`0x${hex.slice(0, 13)}`) - (1n << 52n)));
    expect(Number(lotteryKey(SEED, 't-01J9Z3K7'))).toBe(parseInt(hex.slice(0, 13), 16) - 2 ** 52);
    expect(chainHash('', { type: 'admitted', ticketId: 't1', userId: 'ann', qty: 1, orderKey: '1', extra: '' })).toBe('540625880812a19ca2dac141d57541503dfb5333');
  });
});

describe('replay: a log that was tampered with', () => {
  it('fails one changed field with one chain_broken at that event', () => {
    for (const change of [(e: LogEvent) => void (e.userId = 'mallory'), (e: LogEvent) => void (e.qty = 2)]) {
      const events = cleanDrop().events;
      change(events[3]!);
      const v = replay(events, NO_LOTTERY, null);
      expect(v.violations).toEqual([{ code: 'chain_broken', message: expect.any(String), eventId: events[3]!.id, ticketId: events[3]!.ticketId }]);
    }
  });

  it('fails a removed event', () => {
    const events = cleanDrop().events;
    const [removed] = events.splice(9, 1);
    expect(removed!.type).toBe('paid');
    const v = replay(events, NO_LOTTERY, null);
    expect(codes(v)).toContain('chain_broken');
    expect(v.violations).toContainEqual(expect.objectContaining({ code: 'not_terminal', ticketId: removed!.ticketId }));
  });

  it('fails events whose ids go back', () => {
    const events = cleanDrop().events;
    events[5] = { ...events[5]!, id: '1-0' };
    expect(codes(replay(events, NO_LOTTERY, null))).toEqual(['out_of_order']);
  });
});

describe('replay: the rules of the drop', () => {
  it('fails an oversell: more units reserved than the stock has', () => {
    const log = new Log().loaded({ total: 1 }).admit('t1', 1).admit('t2', 2).t('reserved', 't1').t('reserved', 't2');
    log.t('paid', 't1').t('paid', 't2');
    const v = replay(log.events, NO_LOTTERY, null);
    expect(codes(v)).toContain('oversell');
    expect(v.stock).toEqual({ total: 1, available: -1, reserved: 0, sold: 2 });
  });

  it('fails counters that stop adding up to the total', () => {
    const log = new Log().loaded({ total: 3, available: 1 });
    expect(codes(replay(log.events, NO_LOTTERY, null))).toEqual(['stock_mismatch']);
  });

  it('fails a second paid of one ticket', () => {
    const log = new Log().loaded({ total: 2 }).admit('t1', 1).t('reserved', 't1').t('paid', 't1').t('paid', 't1');
    const v = replay(log.events, NO_LOTTERY, null);
    expect(codes(v)).toContain('double_charge');
    expect(codes(v)).toContain('terminal_changed');
  });

  it('fails a terminal status that changes', () => {
    const expired = new Log().loaded({ total: 1 }).admit('t1', 1).t('reserved', 't1').t('expired', 't1').t('paid', 't1');
    expect(codes(replay(expired.events, NO_LOTTERY, null))).toContain('terminal_changed');
    const soldOut = new Log().loaded({ total: 0 }).admit('t1', 1).t('sold_out', 't1').t('requeued', 't1');
    expect(codes(replay(soldOut.events, NO_LOTTERY, null))).toEqual(['terminal_changed']);
  });

  it('fails a sold_out while the units it needed were available or held', () => {
    const available = new Log().loaded({ total: 2 }).admit('t1', 1).admit('t2', 2).t('reserved', 't1').t('sold_out', 't2').t('paid', 't1');
    expect(codes(replay(available.events, NO_LOTTERY, null))).toEqual(['early_sold_out']);
    const held = new Log().loaded({ total: 1 }).admit('t1', 1).admit('t2', 2).t('reserved', 't1').t('sold_out', 't2').t('paid', 't1');
    expect(codes(replay(held.events, NO_LOTTERY, null))).toEqual(['early_sold_out']);
  });

  it('fails a move the state machine does not allow, an unknown ticket or type, and a refund of a sale', () => {
    const log = new Log().loaded({ total: 2 }).admit('t1', 1).admit('t1', 1).t('promoted', 't1').t('paid', 't1');
    log.t('refunded', 't1').t('expired', 'ghost').add('mystery');
    expect(codes(replay(log.events, NO_LOTTERY, null))).toEqual([
      'duplicate_ticket', 'bad_transition', 'refund_of_sale', 'unknown_ticket', 'oversell', 'unknown_event', 'oversell',
    ]);
  });

  it('fails order keys that are not non-zero integers', () => {
    const log = new Log().loaded({ total: 2 }).admit('zero', 0).add('admitted', { ticketId: 'word', userId: 'u', qty: 1, orderKey: 'x1', extra: '' });
    log.t('reserved', 'zero').t('reserved', 'word').t('paid', 'zero').t('paid', 'word');
    expect(codes(replay(log.events, NO_LOTTERY, null))).toEqual(['bad_order_key', 'bad_order_key']);
  });

  it('fails a ticket that never ended', () => {
    const log = new Log().loaded({ total: 1 }).admit('t1', 1).admit('t2', 2).t('reserved', 't1');
    const v = replay(log.events, NO_LOTTERY, null);
    expect(v.violations.map((x) => [x.code, x.ticketId, x.message])).toEqual([
      ['not_terminal', 't1', expect.stringContaining('reserved')],
      ['not_terminal', 't2', expect.stringContaining('queued')],
    ]);
  });

  it('keeps the first 100 violations and counts them all', () => {
    const log = new Log().loaded({ total: 0 });
    for (let k = 1; k <= 150; k++) log.admit(`t${k}`, k);
    const v = replay(log.events, NO_LOTTERY, null);
    expect(v.violations).toHaveLength(100);
    expect(v.violationCount).toBe(150);
    expect(v.ok).toBe(false);
  });
});

describe('replay: against the ledger MySQL keeps', () => {
  it('fails sold units or paid orders that MySQL does not have', () => {
    const events = cleanDrop().events;
    expect(codes(replay(events, NO_LOTTERY, ledgerOf(['t1', 't2', 't3'], 4)))).toEqual(['ledger_mismatch']);
    expect(codes(replay(events, NO_LOTTERY, ledgerOf(['t1', 't2'], 3)))).toEqual(['ledger_mismatch']);
  });

  it('fails two captured charges of a ticket, and a charge of a ticket that did not end paid', () => {
    const charges = new Map([['t1', 2], ['t2', 1], ['t3', 1], ['t4', 1]]);
    const v = replay(cleanDrop().events, NO_LOTTERY, { paidOrders: 3, paidUnits: 3, chargesPerTicket: charges });
    expect(v.violations.map((x) => [x.code, x.ticketId])).toEqual([['double_charge', 't1'], ['charge_without_sale', 't4']]);
  });
});

describe('replay: a million events', () => {
  it('replays them, the queue check included', () => {
    const units = 200_000;
    const events: LogEvent[] = [];
    let prev = '';
    let i = 0;
    const push = (type: string, ticketId: string, orderKey: string, extra: string) => {
      const e = { type, ticketId, userId: 'u', qty: type === 'loaded' ? units : 1, orderKey, extra };
      prev = chainHash(prev, e);
      events.push({ id: `${1_750_000_000_000 + (i >> 4)}-${i & 15}`, ...e, hash: prev });
      i++;
    };
    push('loaded', '', '', JSON.stringify({ total: units, available: units, reserved: 0, sold: 0, opensAt: 0, queueOpensAt: null, commitment: null }));
    for (let k = 1; k <= 2 * units; k++) push('admitted', `t${k}`, String(k), '');
    for (let k = 1; k <= units; k++) {
      push('reserved', `t${k}`, String(k), '');
      push('paid', `t${k}`, String(k), '');
    }
    for (let k = units + 1; k <= 2 * units; k++) push('sold_out', `t${k}`, String(k), '');
    expect(events).toHaveLength(1_000_001);
    const v = replay(events, NO_LOTTERY, { paidOrders: units, paidUnits: units, chargesPerTicket: new Map() });
    expect(v.violations).toEqual([]);
    expect(v.stock).toEqual({ total: units, available: 0, reserved: 0, sold: units });
  });
});
