import { KeyHeap, type KeyEntry } from './key-heap.ts';
import type { LogEvent, Violation } from './types.ts';

/** The statuses a ticket never leaves, which are also the events that end a ticket. */
export const TERMINAL: ReadonlySet<string> = new Set(['paid', 'payment_failed', 'expired', 'rejected', 'sold_out']);

/** A ticket as the replay knows it: its status, order key (the queue place) and units. */
export type ReplayedTicket = { status: string; key: bigint; qty: number; pre: boolean; paid: number };

const MAX_STORED = 100;
const waiting = (status: string) => status === 'queued' || status === 'parked';
const parseKey = (s: string): bigint | null => (/^-?\d+$/.test(s) ? BigInt(s) : null);

/**
 * The drop's state replayed one event at a time: the stock counters, every ticket, and a
 * min-heap of the order keys of the tickets still queued or parked (the fairness check).
 */
export class DropReplay {
  total = 0;
  available = 0;
  reserved = 0;
  sold = 0;
  admitted = 0;
  preQueued = 0;
  readonly tickets = new Map<string, ReplayedTicket>();
  readonly violations: Violation[] = [];
  violationCount = 0;
  private readonly heap = new KeyHeap();
  private readonly live = (en: KeyEntry) => {
    const t = this.tickets.get(en.ticketId);
    return t !== undefined && waiting(t.status) && t.key === en.key;
  };

  commitment: string | null;

  constructor(commitment: string | null) {
    this.commitment = commitment;
  }

  flag(code: string, message: string, e?: LogEvent, ticketId?: string): void {
    this.violationCount++;
    if (this.violations.length >= MAX_STORED) return;
    const v: Violation = { code, message };
    if (e) v.eventId = e.id;
    const t = ticketId ?? e?.ticketId;
    if (t) v.ticketId = t;
    this.violations.push(v);
  }

  /** Replays one event, then checks the counters. */
  apply(e: LogEvent): void {
    const t = e.ticketId === '' ? undefined : this.tickets.get(e.ticketId);
    switch (e.type) {
      case 'loaded': this.loaded(e); break;
      case 'stock': this.total = e.qty; this.available = e.qty - this.reserved - this.sold; break;
      case 'admitted': this.admit(e, t); break;
      case 'requeued': this.requeue(e, t); break;
      case 'restored': this.restore(e, t); break;
      case 'reserved': this.take(e, t, 'queued'); break;
      case 'promoted': this.take(e, t, 'parked'); break;
      case 'parked': this.move(e, t, 'queued', 'parked'); break;
      case 'paid': {
        const paid = this.move(e, t, 'reserved', 'paid');
        this.reserved -= e.qty;
        this.sold += e.qty;
        if (++paid.paid > 1) this.flag('double_charge', `ticket ${e.ticketId} paid ${paid.paid} times`, e);
        break;
      }
      case 'payment_failed': case 'expired':
        this.move(e, t, 'reserved', e.type);
        this.reserved -= e.qty;
        this.available += e.qty;
        break;
      case 'rejected': {
        const was = t?.status;
        this.move(e, t, was === 'reserved' ? 'reserved' : 'waiting', 'rejected');
        if (was === 'reserved') {
          this.reserved -= e.qty;
          this.available += e.qty;
        }
        break;
      }
      case 'sold_out': {
        const ended = this.move(e, t, 'waiting', 'sold_out');
        if (this.available + this.reserved >= ended.qty) {
          this.flag('early_sold_out', `ticket ${e.ticketId} (${ended.qty} units) sold out with ${this.available} available and ${this.reserved} held`, e);
        }
        break;
      }
      case 'settled': {
        // The ledger's word on a ticket whose end the log lost: counters came with `loaded`.
        const ended = this.move(e, t, t?.status ?? 'queued', TERMINAL.has(e.extra) ? e.extra : 'rejected');
        if (!TERMINAL.has(e.extra)) this.flag('bad_event', `settled ticket ${e.ticketId} as "${e.extra}"`, e);
        if (e.extra === 'paid' && ++ended.paid > 1) this.flag('double_charge', `ticket ${e.ticketId} paid ${ended.paid} times`, e);
        break;
      }
      case 'opens': case 'queue_opens': break;
      case 'refunded':
        if (!t) this.flag('unknown_ticket', `refund of unknown ticket ${e.ticketId}`, e);
        else if (t.status === 'paid') this.flag('refund_of_sale', `ticket ${e.ticketId} refunded after it was paid`, e);
        break;
      default:
        this.flag('unknown_event', `unknown event type "${e.type}"`, e);
    }
    if (this.available < 0 || this.reserved < 0) {
      this.flag('oversell', `after ${e.type}: available ${this.available}, reserved ${this.reserved}`, e);
    }
    if (this.sold + this.reserved + this.available !== this.total) {
      this.flag('stock_mismatch', `after ${e.type}: sold ${this.sold} + reserved ${this.reserved} + available ${this.available} != total ${this.total}`, e);
    }
  }

  private loaded(e: LogEvent): void {
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(e.extra);
    } catch {
      // flagged below, as any extra without the counters
    }
    const x = (parsed !== null && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
    const counters = [x.total, x.available, x.reserved, x.sold];
    if (!counters.every((n) => typeof n === 'number' && Number.isFinite(n))) {
      this.flag('bad_event', `loaded event without its four counters`, e);
      return;
    }
    [this.total, this.available, this.reserved, this.sold] = counters as number[];
    const c = x.commitment;
    if (typeof c !== 'string') return;
    if (this.commitment === null) this.commitment = c;
    else if (this.commitment !== c) this.flag('commitment_changed', `commitment ${this.commitment} became ${c}`, e);
  }

  private admit(e: LogEvent, t: ReplayedTicket | undefined): void {
    if (t) {
      this.flag('duplicate_ticket', `ticket ${e.ticketId} admitted twice`, e);
      return;
    }
    // A negative order key is the pre-queue's (its lottery key); arrival keys count from 1.
    const key = parseKey(e.orderKey);
    const pre = key !== null && key < 0n;
    if (key === null || key === 0n) this.flag('bad_order_key', `ticket ${e.ticketId} with order key "${e.orderKey}"`, e);
    this.admitted++;
    if (pre) this.preQueued++;
    this.create(e, 'queued', key ?? 0n, pre);
  }

  private requeue(e: LogEvent, t: ReplayedTicket | undefined): void {
    if (t && TERMINAL.has(t.status)) return this.flag('terminal_changed', `requeued ticket ${e.ticketId} was ${t.status}`, e);
    const key = parseKey(e.orderKey);
    if (key === null) this.flag('bad_order_key', `requeued ticket ${e.ticketId} with order key "${e.orderKey}"`, e);
    if (!t) return void this.create(e, 'queued', key ?? 0n, false);
    t.status = 'queued';
    if (key !== null) t.key = key;
    this.heap.push({ key: t.key, ticketId: e.ticketId });
  }

  private restore(e: LogEvent, t: ReplayedTicket | undefined): void {
    if (t && TERMINAL.has(t.status)) return this.flag('terminal_changed', `restored ticket ${e.ticketId} was ${t.status}`, e);
    const key = e.orderKey === '' ? null : parseKey(e.orderKey);
    if (e.orderKey !== '' && key === null) this.flag('bad_order_key', `restored ticket ${e.ticketId} with order key "${e.orderKey}"`, e);
    if (!t) return void this.create(e, 'reserved', key ?? 0n, false);
    t.status = 'reserved';
    if (key !== null) t.key = key;
  }

  /** A `reserved` (from queued) or `promoted` (from parked): fairness first, then the units. */
  private take(e: LogEvent, t: ReplayedTicket | undefined, from: 'queued' | 'parked'): void {
    const key = t?.key ?? parseKey(e.orderKey) ?? 0n;
    const first = this.heap.min(this.live);
    if (first && first.ticketId !== e.ticketId && first.key < key) {
      const status = this.tickets.get(first.ticketId)?.status;
      this.flag('out_of_queue_order', `ticket ${e.ticketId} (key ${key}) ${e.type} while ticket ${first.ticketId} (key ${first.key}) is still ${status}`, e);
    }
    this.move(e, t, from, 'reserved');
    this.available -= e.qty;
    this.reserved += e.qty;
  }

  /**
   * Moves a ticket to `to`, flagging the move unless the ticket was `from` ('waiting':
   * queued or parked). A terminal ticket keeps its status; an unknown one is created.
   */
  private move(e: LogEvent, t: ReplayedTicket | undefined, from: string, to: string): ReplayedTicket {
    if (!t) {
      this.flag('unknown_ticket', `${e.type} of unknown ticket ${e.ticketId}`, e);
      return this.create(e, to, parseKey(e.orderKey) ?? 0n, false);
    }
    if (TERMINAL.has(t.status)) {
      this.flag('terminal_changed', `${e.type} of ticket ${e.ticketId}, already ${t.status}`, e);
      return t;
    }
    if (from === 'waiting' ? !waiting(t.status) : t.status !== from) {
      this.flag('bad_transition', `${e.type} of ticket ${e.ticketId}, which was ${t.status}`, e);
    }
    if (waiting(to) && !waiting(t.status)) this.heap.push({ key: t.key, ticketId: e.ticketId });
    t.status = to;
    return t;
  }

  private create(e: LogEvent, status: string, key: bigint, pre: boolean): ReplayedTicket {
    const t: ReplayedTicket = { status, key, qty: e.qty, pre, paid: 0 };
    this.tickets.set(e.ticketId, t);
    if (waiting(status)) this.heap.push({ key, ticketId: e.ticketId });
    return t;
  }
}
