/** One event of a drop's log, as docs/event-log.md describes it; `id` is `<ms>-<n>`. */
export type LogEvent = { id: string; type: string; ticketId: string; userId: string; qty: number; orderKey: string; extra: string; hash: string };

/** One broken rule found by the audit. */
export type Violation = { code: string; message: string; eventId?: string; ticketId?: string };

/** What MySQL says was sold: paid orders, their units, and captured (not refunded) charges per ticket. */
export type LedgerFacts = { paidOrders: number; paidUnits: number; chargesPerTicket: Map<string, number> };

/** The drop's lottery: the commitment shown from queueOpensAt, and the seed once revealed. */
export type Lottery = { commitment: string | null; seed: string | null };

/** The audit's answer for one drop. */
export type Verdict = {
  ok: boolean;
  events: number;
  violations: Violation[];
  violationCount: number;
  tickets: { admitted: number; preQueued: number; byStatus: Record<string, number> };
  stock: { total: number; available: number; reserved: number; sold: number };
  lottery: { commitment: string | null; seedRevealed: boolean; verified: boolean | null };
};
