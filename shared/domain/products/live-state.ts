import type { Deps } from '../../deps.ts';
import type { Product } from '../../db/entities/product.entity.ts';
import { TICKET_STATUSES, type TicketStatus } from '../tickets/statuses.ts';
import { commitmentOf } from '../audit/lottery.ts';

/** Live counters of one product, as its Redis hash holds them. */
export type LiveState = {
  total: number;
  available: number;
  reserved: number;
  sold: number;
  paused: boolean;
  opensAtMs: number;
  perUserLimit: number;
  ratePerSecond: number;
  tickets: Record<TicketStatus, number>;
  /** When the pre-queue opens (ms; -1: no pre-queue). */
  queueOpensAtMs: number;
  /** The admission rate measured while the queue was backed up (tickets/s; 0: not measured yet). */
  measuredPerSecond: number;
  /** Tickets admitted into the pre-queue. */
  preQueued: number;
};

/** The product hash's fields read for a {@link LiveState}, in order. */
export const LIVE_FIELDS = [
  'total', 'available', 'reserved', 'sold', 'paused', 'opensAt', 'limit', 'rate',
  ...TICKET_STATUSES.map((s) => `t_${s}`),
  'qOpensAt', 'mr', 'preN',
] as const;

/** Parses an HMGET of {@link LIVE_FIELDS}; null when the product is not loaded. */
export function parseLive(values: (string | null)[]): LiveState | null {
  if (values[0] === null) return null;
  const n = (i: number) => Number(values[i] ?? 0);
  const tickets = Object.fromEntries(TICKET_STATUSES.map((s, i) => [s, n(8 + i)])) as Record<TicketStatus, number>;
  const more = 8 + TICKET_STATUSES.length;
  return {
    total: n(0),
    available: n(1),
    reserved: n(2),
    sold: n(3),
    paused: n(4) === 1,
    opensAtMs: n(5),
    perUserLimit: n(6),
    ratePerSecond: n(7),
    tickets,
    queueOpensAtMs: values[more] === null ? -1 : n(more),
    measuredPerSecond: n(more + 1),
    preQueued: n(more + 2),
  };
}

/**
 * Live state of several products, each with the clock that decides when it opens (its
 * shard's; one clock for every API process).
 */
export async function readLive(deps: Pick<Deps, 'productState'>, ids: number[]): Promise<{ states: (LiveState | null)[]; serverTimesMs: number[] }> {
  const read = await deps.productState.fields(ids, LIVE_FIELDS);
  return { states: read.map((r) => parseLive(r.values)), serverTimesMs: read.map((r) => r.serverTimeMs) };
}

/**
 * A pre-queue's lottery as the public sees it: the commitment (SHA-256 of the seed) from the
 * start, the seed once the drop's clock has passed opensAt (docs/event-log.md).
 */
function lotteryView(p: Product, opensAtMs: number | null, serverTimeMs: number) {
  if (!p.lotterySeed || !p.queueOpensAt) return null;
  const drawn = opensAtMs !== null && serverTimeMs >= opensAtMs;
  return { commitment: commitmentOf(p.lotterySeed), seed: drawn ? p.lotterySeed : null };
}

/** What of a product's live state its public view shows. */
type ViewState = Pick<LiveState, 'total' | 'available' | 'opensAtMs' | 'perUserLimit'>;
/** The hash fields of a {@link ViewState}, in order: a catalogue's read carries these four, not all of {@link LIVE_FIELDS}. */
const VIEW_FIELDS = ['total', 'available', 'opensAt', 'limit'] as const;

/** Public views of products (the contract's "Products"): their live state, each with its shard's clock. */
export async function readViews(deps: Pick<Deps, 'productState'>, products: Product[]): Promise<ProductView[]> {
  const read = await deps.productState.fields(products.map((p) => p.id), VIEW_FIELDS);
  return products.map((p, i) => {
    const [total, available, opensAt, limit] = read[i].values;
    const live = total === null ? null : { total: Number(total), available: Number(available ?? 0), opensAtMs: Number(opensAt ?? 0), perUserLimit: Number(limit ?? 0) };
    return productView(p, live, read[i].serverTimeMs);
  });
}

/** The public shape of a product (the contract's "Products"). */
export function productView(p: Product, live: ViewState | null, serverTimeMs: number) {
  const total = live?.total ?? p.totalStock;
  const opensAtMs = live ? (live.opensAtMs >= 0 && p.type === 'reserve' ? live.opensAtMs : null) : (p.opensAt?.getTime() ?? null);
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    manufacturer: p.manufacturer,
    price: p.priceMinor / 100,
    currency: p.currency,
    type: p.type,
    opensAt: opensAtMs === null ? null : new Date(opensAtMs).toISOString(),
    queueOpensAt: p.type === 'reserve' && p.queueOpensAt ? p.queueOpensAt.toISOString() : null,
    lottery: lotteryView(p, opensAtMs, serverTimeMs),
    perUserLimit: live?.perUserLimit ?? p.perUserLimit,
    stock: { total, available: live?.available ?? total },
    serverTime: new Date(serverTimeMs).toISOString(),
  };
}

export type ProductView = ReturnType<typeof productView>;
