import { newRouter } from '../router.ts';
import type { Deps } from '../../shared/deps.ts';
import { readViews } from '../../shared/domain/products/live-state.ts';
import { SharedRead, SharedReads } from '../../shared/shared-read.ts';
import { parseId } from '../schemas.ts';

/**
 * Public catalogue: metadata from the cache, live stock and the shared clock from Redis.
 * A crowd refreshing a page costs what one client does: requests that come while a read
 * runs share the next one (SharedRead), which every one of them asked for before it
 * started, so each answer is as live as its own read would have been. The listing is
 * rendered once per read: its cost per request no longer grows with the catalogue.
 */
export function productRoutes(deps: Deps) {
  const router = newRouter();
  const listing = new SharedRead(async () => {
    return Buffer.from(JSON.stringify(await readViews(deps, await deps.catalog.listing())));
  });
  const views = new SharedReads(async (id: number) => {
    const [view] = await readViews(deps, [await deps.catalog.get(id)]);
    return view;
  });
  router.get('/products', async (ctx) => {
    const body = await listing.get();
    ctx.type = 'json';
    ctx.body = body;
  });
  router.get('/products/:id', async (ctx) => {
    ctx.body = await views.get(parseId(ctx.params.id, 'Product'));
  });
  return router;
}
