import type { Deps } from '../../deps.ts';
import type { Product } from '../../db/entities/product.entity.ts';
import { DomainError } from '../../errors.ts';
import { fulfilAll } from '../reservation/hand-on.ts';
import { REBUILD_LOCK_MS, rebuildProduct } from './rebuild.ts';

/**
 * Makes sure the product's live state is in Redis: rebuilt from the MySQL ledger when
 * missing (see rebuildProduct), by one process while the others wait for it. The holds a
 * rebuild gave back to pending orders get their payment and expiry jobs again.
 */
export async function loadProduct(deps: Deps, product: Product): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const [loaded] = await deps.productState.loaded([product.id]);
    if (loaded) return;
    if (await deps.productState.lock(product.id, REBUILD_LOCK_MS)) {
      let restored: string[] = [];
      try {
        restored = (await rebuildProduct(deps, product))?.restored ?? [];
      } finally {
        await deps.productState.unlock(product.id);
      }
      if (restored.length) await fulfilAll(deps, product, restored.map((ticketId) => ({ ticketId })));
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new DomainError('busy', 'The product is being prepared; try again shortly.', {}, 1);
}
