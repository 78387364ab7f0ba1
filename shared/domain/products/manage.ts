import { randomBytes } from 'node:crypto';
import type { Deps } from '../../deps.ts';
import type { Product, ProductType } from '../../db/entities/product.entity.ts';
import { DomainError, notFound } from '../../errors.ts';
import { scriptError } from '../../redis/script-errors.ts';
import { handOn } from '../reservation/hand-on.ts';
import { readLive, readViews } from './live-state.ts';
import { loadProduct } from './load.ts';
import { applyOperatorSettings } from './settings.ts';
import { placementIds } from './placement.ts';
import type { NewProductRow } from '../../db/products.repository.ts';

export type NewProduct = {
  name: string;
  description: string;
  manufacturer: string;
  price: number;
  currency: string;
  type: ProductType;
  opensAt?: Date | null;
  /** When the pre-queue opens (reserve products; before opensAt): its lottery draws at opensAt. */
  queueOpensAt?: Date | null;
  perUserLimit: number;
  stock: number;
};

export type ProductPatch = { stock?: number; opensAt?: Date; queueOpensAt?: Date | null; perUserLimit?: number };

/** A new lottery seed: 32 random bytes as 64 hex (its SHA-256 is the commitment shown until the draw). */
const newSeed = () => randomBytes(32).toString('hex');

/** Creates a product in MySQL (a drop placed on a shard: see placementIds) and loads its live state into Redis. */
export async function createProduct(deps: Deps, input: NewProduct) {
  const row = {
    name: input.name,
    description: input.description,
    manufacturer: input.manufacturer,
    priceMinor: Math.round(input.price * 100),
    currency: input.currency,
    type: input.type,
    opensAt: input.type === 'reserve' ? (input.opensAt ?? null) : null,
    queueOpensAt: input.type === 'reserve' ? (input.queueOpensAt ?? null) : null,
    lotterySeed: input.type === 'reserve' && input.queueOpensAt ? newSeed() : null,
    perUserLimit: input.type === 'reserve' ? input.perUserLimit : 0,
    totalStock: input.stock,
  };
  const product = (input.type === 'reserve' && await createPlaced(deps, row)) || await deps.products.create(row);
  if (!product) throw new Error('a product row was not created');
  deps.catalog.remember(product);
  await loadProduct(deps, product);
  return view(deps, product);
}

/** A drop on the least-loaded shard of a cluster; false on one Redis, or if every id tried was taken meanwhile. */
async function createPlaced(deps: Deps, row: NewProductRow): Promise<Product | false> {
  const ids = await placementIds(deps);
  for (const id of ids?.slice(0, 3) ?? []) {
    const product = await deps.products.create(row, id);
    if (product) return product;
  }
  return false;
}

async function view(deps: Deps, product: Product) {
  const [shown] = await readViews(deps, [product]);
  return shown;
}

/**
 * Changes stock, opening instant or per-user limit, live: Redis first (where admission
 * decides), then MySQL. Stock can never drop below what is sold or held; new units go to
 * parked buyers first.
 */
export async function updateProduct(deps: Deps, id: number, patch: ProductPatch) {
  const product = await deps.catalog.get(id);
  for (const field of ['opensAt', 'queueOpensAt'] as const) {
    if (patch[field] && product.type !== 'reserve') throw new DomainError('invalid', `${field}: general products are always open`, { field });
  }
  const opensAt = patch.opensAt ?? product.opensAt;
  const queueOpensAt = patch.queueOpensAt === undefined ? product.queueOpensAt : patch.queueOpensAt;
  if (queueOpensAt && opensAt && queueOpensAt >= opensAt) throw new DomainError('invalid', 'queueOpensAt: must be before opensAt', { field: 'queueOpensAt' });
  await loadProduct(deps, product);
  // The seed is drawn once, when the product first gets a pre-queue, and never changes.
  const lotterySeed = queueOpensAt && !product.lotterySeed ? newSeed() : undefined;
  if (lotterySeed) remember(deps, await deps.products.update(id, { lotterySeed }));
  const freed = await deps.scripts.updateProduct(id, {
    stock: patch.stock, opensAtMs: patch.opensAt?.getTime(), perUserLimit: patch.perUserLimit,
    queueOpensAtMs: patch.queueOpensAt === undefined ? undefined : (patch.queueOpensAt?.getTime() ?? -1),
  });
  const error = scriptError(freed);
  if (error) throw error;
  const row = await deps.products.update(id, {
    ...(patch.stock !== undefined && { totalStock: patch.stock }),
    ...(patch.opensAt && { opensAt: patch.opensAt }),
    ...(patch.queueOpensAt !== undefined && { queueOpensAt: patch.queueOpensAt }),
    ...(patch.perUserLimit !== undefined && { perUserLimit: patch.perUserLimit }),
  });
  remember(deps, row);
  await handOn(deps, row, freed);
  return view(deps, row);
}

async function loaded(deps: Deps, id: number): Promise<Product> {
  const product = await deps.catalog.get(id);
  await loadProduct(deps, product);
  return product;
}

/**
 * Paused products answer `503 paused` at the door, and a reserve product's queue stops
 * handing out units: queued tickets keep their place and wait (holds already given go on
 * to payment). General products share one queue, so for them only the door closes.
 */
export async function setPaused(deps: Deps, id: number, paused: boolean) {
  const product = await loaded(deps, id);
  // MySQL first: a product rebuilt after Redis lost it reads the operator's settings there.
  remember(deps, await deps.products.update(id, { paused }));
  await applyOperatorSettings(deps, product, { paused });
  return stats(deps, product.id);
}

/** Admission rate of a reserve product (tickets per second), changed live for every worker. */
export async function setRate(deps: Deps, id: number, perSecond: number) {
  const product = await loaded(deps, id);
  if (product.type !== 'reserve') throw new DomainError('invalid', 'perSecond: general products are not rate limited', { field: 'perSecond' });
  remember(deps, await deps.products.update(id, { admissionRatePerSec: perSecond }));
  await applyOperatorSettings(deps, product, { ratePerSecond: perSecond });
  return stats(deps, id);
}

/** The product's row changed: cache it, and ask Redis again about sell-outs. */
function remember(deps: Deps, row: Product): void {
  deps.catalog.remember(row);
  deps.soldOut.forget(row.id);
}

export async function stats(deps: Deps, id: number) {
  const product = await loaded(deps, id);
  const { states } = await readLive(deps, [id]);
  const live = states[0];
  if (!live) throw notFound('Product');
  const counts = await deps.queues.admission(product.type, id).getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
  return {
    productId: id,
    type: product.type,
    stock: { total: live.total, available: live.available, reserved: live.reserved, sold: live.sold },
    tickets: live.tickets,
    queue: {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      failed: counts.failed ?? 0,
    },
    paused: live.paused,
    ratePerSecond: product.type === 'reserve' ? live.ratePerSecond : null,
  };
}
