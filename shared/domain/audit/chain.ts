import { createHash } from 'node:crypto';

/** The fields of a log event the hash chain covers (see docs/event-log.md). */
export type ChainedFields = { type: string; ticketId: string; userId: string; qty: number; orderKey: string; extra: string };

/** sha1hex(prev + "\n" + e + "\n" + t + "\n" + u + "\n" + q + "\n" + s + "\n" + x): one link of a drop's chain. */
export function chainHash(prev: string, e: ChainedFields): string {
  return createHash('sha1')
    .update(`${prev}\n${e.type}\n${e.ticketId}\n${e.userId}\n${String(e.qty)}\n${e.orderKey}\n${e.extra}`)
    .digest('hex');
}

/** A stream entry id `<ms>-<n>` as its two numbers, or null when it is not one. */
export function parseEventId(id: string): [number, number] | null {
  const m = /^(\d+)-(\d+)$/.exec(id);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** Whether id `b` comes strictly after id `a` (ms, then n, numerically). */
export function isAfter(a: [number, number], b: [number, number]): boolean {
  return b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]);
}
