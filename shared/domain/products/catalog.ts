import type { Product } from '../../db/entities/product.entity.ts';
import type { ProductsRepository } from '../../db/products.repository.ts';
import { notFound } from '../../errors.ts';

const META_TTL_MS = 10_000;
const MISS_TTL_MS = 2_000;
/** How long the public listing's product list is read from memory (what an operator changes in this process shows at once). */
const LIST_TTL_MS = 1_000;

type CacheEntry = { product: Product | null; until: number };

/**
 * Product metadata from MySQL, cached in memory so admission never waits on MySQL (nor
 * fails while it is away): a cached entry is answered at once and refreshed in the
 * background once stale.
 */
export class Catalog {
  private readonly cache = new Map<number, CacheEntry>();
  private readonly refreshing = new Set<number>();
  private readonly products: ProductsRepository;
  /** Changes operators made through this process (remember): a listing read before one is stale. */
  private changes = 0;
  private listed: { products: Product[]; until: number; changes: number } | null = null;

  constructor(products: ProductsRepository) {
    this.products = products;
  }

  async find(id: number): Promise<Product | null> {
    const hit = this.cache.get(id);
    if (!hit) return this.load(id);
    if (hit.until <= Date.now() && !this.refreshing.has(id)) {
      this.refreshing.add(id);
      this.load(id)
        .catch(() => {})
        .finally(() => this.refreshing.delete(id));
    }
    return hit.product;
  }

  private async load(id: number): Promise<Product | null> {
    const product = await this.products.find(id);
    this.cache.set(id, { product, until: Date.now() + (product ? META_TTL_MS : MISS_TTL_MS) });
    return product;
  }

  /** The type of a product this process knows, without waiting (undefined when unknown). */
  typeOf(id: number): Product['type'] | undefined {
    return this.cache.get(id)?.product?.type;
  }

  async get(id: number): Promise<Product> {
    const product = await this.find(id);
    if (!product) throw notFound('Product');
    return product;
  }

  /** An operator created or changed the product: this is its row now. */
  remember(product: Product): void {
    this.cache.set(product.id, { product, until: Date.now() + META_TTL_MS });
    this.changes++;
  }

  /**
   * Every product, for the public listing: read from MySQL at most once a LIST_TTL_MS (and
   * at once after this process changed one), so a crowd browsing the catalogue does not
   * load every row each time; while MySQL is away, the last list.
   */
  async listing(): Promise<Product[]> {
    const listed = this.listed;
    if (listed && listed.until > Date.now() && listed.changes === this.changes) return listed.products;
    const changes = this.changes;
    try {
      const products = await this.list();
      this.listed = { products, until: Date.now() + LIST_TTL_MS, changes };
      return products;
    } catch (err) {
      if (listed) return listed.products;
      throw err;
    }
  }

  /** Every product, refreshing the metadata cache. */
  async list(): Promise<Product[]> {
    const products = await this.products.list();
    const until = Date.now() + META_TTL_MS;
    products.forEach((product) => this.cache.set(product.id, { product, until }));
    return products;
  }
}
