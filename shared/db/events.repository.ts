import { format } from 'mysql2';
import type { Orm } from './orm.ts';

/** One event of a drop's log as MySQL keeps it (docs/event-log.md); `id` is `<ms>-<n>`. */
export type EventRow = { id: string; type: string; ticketId: string; userId: string; qty: number; orderKey: string; extra: string; hash: string };

/** A ticket the log admitted that has no terminal event in MySQL yet. */
export type OpenTicket = { ticketId: string; userId: string; qty: number; orderKey: string; paymentMethod: string };

const TERMINAL = ['paid', 'payment_failed', 'expired', 'rejected', 'sold_out', 'settled'];
const PAGE = 50_000;
const INSERT_EVENTS = 'insert ignore into drop_events (product_id, event_ms, event_seq, type, ticket_id, user_id, qty, order_key, extra, hash) values ?';

type Row = { event_ms: string | number; event_seq: number; type: string; ticket_id: string; user_id: string; qty: number; order_key: string; extra: string; hash: string };

/** Drops' event logs in MySQL: the durable record of every decision, and the door's refusal counts. */
export class EventsRepository {
  private readonly orm: Orm;

  constructor(orm: Orm) {
    this.orm = orm;
  }

  /**
   * Writes drained events; rows MySQL already has are left as they are (a repeated drain).
   * The rows go in as one bulk `values ?` that mysql2's own escaper expands, not as ten
   * placeholders per row for MikroORM to fill in one by one (bench/README.md, "Measured
   * choices in the code").
   */
  async insert(productId: number, events: EventRow[]): Promise<void> {
    if (events.length === 0) return;
    const rows = events.map((e) => {
      const dash = e.id.indexOf('-');
      return [productId, e.id.slice(0, dash), Number(e.id.slice(dash + 1)), e.type, e.ticketId, e.userId, e.qty, e.orderKey, e.extra, e.hash];
    });
    await this.execute(format(INSERT_EVENTS, [rows]), [], 'run');
  }

  async addRefusals(productId: number, counts: Record<string, number>): Promise<void> {
    const entries = Object.entries(counts).filter(([, n]) => n > 0);
    if (entries.length === 0) return;
    await this.execute(
      `insert into drop_refusals (product_id, code, count) values ${entries.map(() => '(?, ?, ?)').join(', ')}
       on duplicate key update count = count + values(count)`, entries.flatMap(([code, n]) => [productId, code, n]), 'run');
  }

  async refusals(productId: number): Promise<Record<string, number>> {
    const rows: { code: string; count: string | number }[] = await this.execute('select code, count from drop_refusals where product_id = ?', [productId]);
    return Object.fromEntries(rows.map((r) => [r.code, Number(r.count)]));
  }

  /** Every event of a drop, in log order (read in pages, so a million events do not need one result set). */
  async ofProduct(productId: number): Promise<EventRow[]> {
    const out: EventRow[] = [];
    let after: [string | number, number] = [-1, 0];
    for (;;) {
      const rows: Row[] = await this.execute(
        `select event_ms, event_seq, type, ticket_id, user_id, qty, order_key, extra, hash from drop_events
         where product_id = ? and (event_ms, event_seq) > (?, ?) order by event_ms, event_seq limit ${PAGE}`, [productId, ...after]);
      for (const r of rows) out.push(toEvent(r));
      if (rows.length < PAGE) return out;
      const last = rows[rows.length - 1];
      after = [last.event_ms, last.event_seq];
    }
  }

  /** The drop's last event in MySQL (its hash continues the chain after Redis lost the log). */
  async last(productId: number): Promise<EventRow | null> {
    const [row]: Row[] = await this.execute(
      `select event_ms, event_seq, type, ticket_id, user_id, qty, order_key, extra, hash from drop_events
       where product_id = ? order by event_ms desc, event_seq desc limit 1`, [productId]);
    return row ? toEvent(row) : null;
  }

  /** The highest arrival sequence the drop ever gave (order keys after opensAt are 1, 2, 3...). */
  async maxSeq(productId: number): Promise<number> {
    const [row]: { n: string | number | null }[] = await this.execute(
      `select max(cast(order_key as signed)) as n from drop_events where product_id = ? and type = 'admitted'`, [productId]);
    return Math.max(0, Number(row?.n ?? 0));
  }

  /** A ticket's last event in the log (how it ended, once Redis has forgotten it). */
  async lastOfTicket(productId: number, ticketId: string): Promise<{ type: string; userId: string; extra: string; atMs: number; firstMs: number } | null> {
    const rows: Row[] = await this.execute(
      `select event_ms, event_seq, type, ticket_id, user_id, qty, order_key, extra, hash from drop_events
       where product_id = ? and ticket_id = ? order by event_ms, event_seq`, [productId, ticketId]);
    const first = rows[0];
    const last = rows[rows.length - 1];
    const owner = rows.find((r) => r.user_id !== '');
    return last && owner ? { type: last.type, userId: owner.user_id, extra: last.extra, atMs: Number(last.event_ms), firstMs: Number(first.event_ms) } : null;
  }

  /** What the orders and payments of a drop say, for the audit: paid orders and units, and the tickets with a standing charge. */
  async ledgerFacts(productId: number): Promise<{ paidOrders: number; paidUnits: number; chargesPerTicket: Map<string, number> }> {
    const [[paid], charges] = await Promise.all([
      this.execute<{ n: number | string; units: number | string }[]>(
        `select count(*) as n, coalesce(sum(quantity), 0) as units from orders where product_id = ? and status = 'paid'`, [productId]),
      this.execute<{ ticket_id: string; n: number | string }[]>(
        `select p.ticket_id, count(*) as n from payments p join orders o on o.id = p.order_id
         where o.product_id = ? and p.status = 'succeeded' group by p.ticket_id`, [productId]),
    ]);
    return {
      paidOrders: Number(paid?.n ?? 0), paidUnits: Number(paid?.units ?? 0),
      chargesPerTicket: new Map(charges.map((c) => [c.ticket_id, Number(c.n)])),
    };
  }

  /** Tickets admitted (or queued again) whose end MySQL has not heard of, with the order key they last had. */
  async openTickets(productId: number): Promise<OpenTicket[]> {
    const rows: { ticket_id: string; user_id: string; qty: number; order_key: string; extra: string }[] = await this.execute(
      `select a.ticket_id, a.user_id, a.qty, a.order_key, a.extra from drop_events a
       where a.product_id = ? and a.type = 'admitted' and not exists (
         select 1 from drop_events b where b.product_id = a.product_id and b.ticket_id = a.ticket_id
           and b.type in (${TERMINAL.map(() => '?').join(', ')}))`, [productId, ...TERMINAL]);
    return rows.map((r) => ({ ticketId: r.ticket_id, userId: r.user_id, qty: Number(r.qty), orderKey: r.order_key, paymentMethod: r.extra }));
  }

  private execute<T = any>(sql: string, params: unknown[], method: 'all' | 'run' = 'all'): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return this.orm.em.getConnection().execute(sql, params, method) as Promise<T>;
  }
}

function toEvent(r: Row): EventRow {
  return { id: `${r.event_ms}-${r.event_seq}`, type: r.type, ticketId: r.ticket_id, userId: r.user_id, qty: Number(r.qty), orderKey: r.order_key, extra: r.extra, hash: r.hash };
}
