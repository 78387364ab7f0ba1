import type { Deps } from '../deps.ts';
import { ProductSchema, type Product, type ProductType } from '../db/entities/product.entity.ts';
import { DomainError, notFound } from '../errors.ts';
import { admissionQueueName, reserveQueueName } from '../queues.ts';
import { fulfilAll, loadProduct, sweepSoldOut } from './fulfilment.ts';
import { productView } from './product-state.ts';
import { setExisting } from '../redis/scripts.ts';

export type NewProduct = {
  name: string;
  description: string;
  manufacturer: string;
  price: number;
  currency: string;
  type: ProductType;
  opensAt?: Date | null;
  perUserLimit: number;
  stock: number;
};

/** Creates a product in MySQL and loads its live state into Redis. */
export async function createProduct(deps: Deps, input: NewProduct) {
  const em = deps.orm.em.fork();
  const product = em.create(ProductSchema, {
    name: input.name,
    description: input.description,
    manufacturer: input.manufacturer,
    priceMinor: Math.round(input.price * 100),
    currency: input.currency,
    type: input.type,
    opensAt: input.type === 'reserve' ? (input.opensAt ?? null) : null,
    perUserLimit: input.type === 'reserve' ? input.perUserLimit : 0,
    totalStock: input.stock,
  });
  await em.flush();
  deps.catalog.remember(product);
  await loadProduct(deps, product);
  return view(deps, product);
}

async function view(deps: Deps, product: Product) {
  const { states, serverTimeMs } = await deps.catalog.live([product.id]);
  return productView(product, states[0], serverTimeMs);
}

export type ProductPatch = { stock?: number; opensAt?: Date; perUserLimit?: number };

/**
 * Changes stock, opening instant or per-user limit, live: Redis first (where admission
 * decides), then MySQL. Stock can never drop below what is sold or held.
 */
export async function updateProduct(deps: Deps, id: number, patch: ProductPatch) {
  const { catalog, keys, scripts, config, orm } = deps;
  const product = await catalog.get(id);
  if (patch.opensAt && product.type !== 'reserve') throw new DomainError('invalid', 'opensAt: general products are always open', { field: 'opensAt' });
  await loadProduct(deps, product);
  const [outcome, promoted, remaining] = (await scripts.run('update-product', keys.productScriptKeys(id), [
    patch.stock ?? '',
    patch.opensAt ? patch.opensAt.getTime() : '',
    patch.perUserLimit ?? '',
    keys.product(id).ticketPrefix,
    config.TICKET_TTL_S,
    config.PAYMENT_HOLD_MS,
    200,
  ])) as [string, string[] | number, number];
  if (outcome === 'below_committed') {
    throw new DomainError('conflict', `stock cannot go below the ${promoted} units already sold or held`, { field: 'stock' });
  }
  const em = orm.em.fork();
  const row = await em.findOneOrFail(ProductSchema, { id });
  if (patch.stock !== undefined) row.totalStock = patch.stock;
  if (patch.opensAt) row.opensAt = patch.opensAt;
  if (patch.perUserLimit !== undefined) row.perUserLimit = patch.perUserLimit;
  await em.flush();
  catalog.remember(row);
  await fulfilAll(deps, row, (promoted as string[]).map((ticketId) => ({ ticketId })));
  if (remaining > 0) await sweepSoldOut(deps, row);
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
  await remember(deps, id, { paused });
  // Only onto the live state as it is: a product Redis lost is rebuilt from the row just written.
  await setExisting(deps.scripts, deps.keys.product(id).product, 'total', { paused: paused ? 1 : 0 });
  if (product.type === 'reserve') {
    const queue = deps.queues.get(reserveQueueName(id));
    await (paused ? queue.pause() : queue.resume());
  }
  return stats(deps, product.id);
}

/** Admission rate of a reserve product's queue, changed live for every worker. */
export async function setRate(deps: Deps, id: number, perSecond: number) {
  const product = await loaded(deps, id);
  if (product.type !== 'reserve') throw new DomainError('invalid', 'perSecond: general products are not rate limited', { field: 'perSecond' });
  await remember(deps, id, { admissionRatePerSec: perSecond });
  await deps.queues.get(reserveQueueName(id)).setGlobalRateLimit(perSecond, 1000);
  await setExisting(deps.scripts, deps.keys.product(id).product, 'total', { rate: perSecond });
  return stats(deps, id);
}

/**
 * Records an operator's setting in MySQL before Redis and the queue get it: a product
 * rebuilt after Redis lost it reads them from there (Catalog.rebuild).
 */
async function remember(deps: Deps, id: number, change: Partial<Pick<Product, 'paused' | 'admissionRatePerSec'>>) {
  const em = deps.orm.em.fork();
  const row = await em.findOneOrFail(ProductSchema, { id });
  Object.assign(row, change);
  await em.flush();
  deps.catalog.remember(row);
}

export async function stats(deps: Deps, id: number) {
  const product = await loaded(deps, id);
  const { states } = await deps.catalog.live([id]);
  const live = states[0];
  if (!live) throw notFound('Product');
  const counts = await deps.queues
    .get(admissionQueueName(product.type, id))
    .getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
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
