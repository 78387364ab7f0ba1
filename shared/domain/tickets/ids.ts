import { randomId } from '../../random-ids.ts';

/** A ticket id names its product (`<productId>-<random>`) so one key lookup finds it. */
export function newTicketId(productId: number): string {
  return `${productId}-${randomId(12)}`;
}

export function productOfTicket(ticketId: string): number | null {
  const m = /^([1-9][0-9]{0,9})-[A-Za-z0-9_-]{16}$/.exec(ticketId);
  return m ? Number(m[1]) : null;
}
