import { DomainError, invalid } from '../errors.ts';
import type { AdmitResult, FreedUnits } from './scripts.ts';

/**
 * The one table from the scripts' reply codes to domain errors (the HTTP status of each
 * code is the API's business). Null for an outcome that is not an error.
 */
export function scriptError(result: AdmitResult | (FreedUnits & { committed?: number })): DomainError | null {
  const r = result as { outcome: string } & Record<string, unknown>;
  switch (r.outcome) {
    case 'not_open':
      return new DomainError('not_open', r.queueOpensAtMs === null || r.queueOpensAtMs === undefined
        ? 'This product is not on sale yet.' : 'The queue for this product is not open yet.', {
        opensAt: new Date(Number(r.opensAtMs)).toISOString(),
        queueOpensAt: r.queueOpensAtMs === null || r.queueOpensAtMs === undefined ? null : new Date(Number(r.queueOpensAtMs)).toISOString(),
        serverTime: new Date(Number(r.nowMs)).toISOString(),
      });
    case 'paused':
      return new DomainError('paused', 'Sales of this product are paused; try again shortly.', {}, 5);
    case 'sold_out':
      return new DomainError('sold_out', 'This product is sold out.');
    case 'over_limit':
      return invalid('quantity', `at most ${Number(r.limit)} per buyer, and you already hold ${Number(r.held)}`);
    case 'rate_limited':
      return new DomainError('rate_limited', 'Too many purchase requests; slow down.', {}, Math.ceil(Number(r.retryAfterMs) / 1000));
    case 'busy':
      return new DomainError('busy', 'The queue for this product is full; try again shortly.', {}, 2);
    case 'below_committed':
      return new DomainError('conflict', `stock cannot go below the ${Number(r.committed)} units already sold or held`, { field: 'stock' });
    default:
      return null;
  }
}
