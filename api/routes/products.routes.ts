import { newRouter } from '../router.ts';
import type { Deps } from '../../shared/deps.ts';
import { productView, readLive } from '../../shared/domain/products/live-state.ts';
import { parseId } from '../schemas.ts';

/** Public catalogue: metadata from the cache, live stock and the shared clock from Redis. */
export function productRoutes(deps: Deps) {
  const router = newRouter();
  router.get('/products', async (ctx) => {
    const products = await deps.catalog.list();
    const { states, serverTimesMs } = await readLive(deps, products.map((p) => p.id));
    ctx.body = products.map((p, i) => productView(p, states[i], serverTimesMs[i]));
  });
  router.get('/products/:id', async (ctx) => {
    const product = await deps.catalog.get(parseId(ctx.params.id, 'Product'));
    const { states, serverTimesMs } = await readLive(deps, [product.id]);
    ctx.body = productView(product, states[0], serverTimesMs[0]);
  });
  return router;
}
