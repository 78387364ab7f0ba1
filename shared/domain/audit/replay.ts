import { chainHash, isAfter, parseEventId } from './chain.ts';
import { DropReplay, TERMINAL } from './events.ts';
import { commitmentOf, isSeed, lotteryKey } from './lottery.ts';
import type { LedgerFacts, LogEvent, Lottery, Verdict } from './types.ts';

export { chainHash } from './chain.ts';
export { commitmentOf, lotteryKey } from './lottery.ts';
export type { LedgerFacts, LogEvent, Lottery, Verdict, Violation } from './types.ts';

/**
 * The audit of one drop (docs/event-log.md), pure: checks the hash chain and the order of
 * the ids, replays every event (counters, tickets, queue order), then checks that every
 * ticket ended, the ledger MySQL keeps, and the lottery against its revealed seed.
 * Violations are counted in full and the first 100 are kept.
 */
export function replay(events: LogEvent[], lottery: Lottery, ledger: LedgerFacts | null, opts: { chainStart?: string } = {}): Verdict {
  const drop = new DropReplay(lottery.commitment);
  let prev = opts.chainStart ?? '';
  let lastId: [number, number] | null = null;
  for (const e of events) {
    if (e.hash !== chainHash(prev, e) && !(e.type === 'loaded' && e.hash === chainHash('', e))) {
      drop.flag('chain_broken', `event ${e.id} (${e.type}) does not follow its predecessor's hash`, e);
    }
    prev = e.hash;
    const id = parseEventId(e.id);
    if (id === null || (lastId !== null && !isAfter(lastId, id))) {
      drop.flag('out_of_order', `event ${e.id} does not come after ${lastId ? lastId.join('-') : 'its predecessor'}`, e);
    }
    if (id !== null) lastId = id;
    drop.apply(e);
  }

  const byStatus: Record<string, number> = {};
  for (const [ticketId, t] of drop.tickets) {
    byStatus[t.status] = (byStatus[t.status] ?? 0) + 1;
    if (!TERMINAL.has(t.status)) drop.flag('not_terminal', `ticket ${ticketId} ended ${t.status}`, undefined, ticketId);
  }
  if (ledger) checkLedger(drop, ledger, byStatus.paid ?? 0);
  const verified = lottery.seed ? checkLottery(drop, lottery.seed) : null;

  return {
    ok: drop.violationCount === 0,
    events: events.length,
    violations: drop.violations,
    violationCount: drop.violationCount,
    tickets: { admitted: drop.admitted, preQueued: drop.preQueued, byStatus },
    stock: { total: drop.total, available: drop.available, reserved: drop.reserved, sold: drop.sold },
    lottery: { commitment: drop.commitment, seedRevealed: Boolean(lottery.seed), verified },
  };
}

/** Sold units and paid tickets against MySQL's paid orders; captured charges against the tickets. */
function checkLedger(drop: DropReplay, ledger: LedgerFacts, paidTickets: number): void {
  if (drop.sold !== ledger.paidUnits) {
    drop.flag('ledger_mismatch', `the log sold ${drop.sold} units, MySQL has ${ledger.paidUnits} in paid orders`);
  }
  if (paidTickets !== ledger.paidOrders) {
    drop.flag('ledger_mismatch', `${paidTickets} tickets ended paid, MySQL has ${ledger.paidOrders} paid orders`);
  }
  for (const [ticketId, charges] of ledger.chargesPerTicket) {
    if (charges > 1) drop.flag('double_charge', `ticket ${ticketId} has ${charges} captured charges`, undefined, ticketId);
    const t = drop.tickets.get(ticketId);
    if (charges > 0 && t && TERMINAL.has(t.status) && t.status !== 'paid') {
      drop.flag('charge_without_sale', `ticket ${ticketId} ended ${t.status} with a captured charge`, undefined, ticketId);
    }
  }
}

/** The revealed seed against the commitment, and every pre-queued ticket's key against its HMAC. */
function checkLottery(drop: DropReplay, seed: string): boolean {
  let good = true;
  if (commitmentOf(seed) !== drop.commitment) {
    drop.flag('commitment_mismatch', `the seed hashes to ${commitmentOf(seed)}, the commitment was ${drop.commitment ?? 'never shown'}`);
    good = false;
  }
  if (!isSeed(seed)) {
    drop.flag('bad_seed', 'the seed is not 64 lowercase hex digits');
    good = false;
  }
  for (const [ticketId, t] of drop.tickets) {
    if (!t.pre) continue;
    const expected = lotteryKey(seed, ticketId);
    if (BigInt(expected) !== t.key) {
      drop.flag('lottery_mismatch', `pre-queued ticket ${ticketId} has order key ${t.key}, its HMAC gives ${expected}`, undefined, ticketId);
      good = false;
    }
  }
  return good;
}
