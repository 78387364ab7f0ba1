import type { Deps } from '../../shared/deps.ts';
import { createProduct, setPaused, setRate, stats, updateProduct } from '../../shared/domain/products/manage.ts';
import { reconcile } from '../../shared/domain/reporting/reconcile.ts';
import { auditDrop } from '../../shared/domain/audit/audit.ts';
import { newRouter } from '../router.ts';
import { createProductBody, parse, parseId, patchProductBody, rateBody } from '../schemas.ts';

/** Operator controls; the admin guard in front of every `/admin` path asks for credentials. */
export function adminRoutes(deps: Deps) {
  const router = newRouter('/admin');
  router.post('/products', async (ctx) => {
    ctx.status = 201;
    ctx.body = await createProduct(deps, parse(createProductBody, ctx.request.body));
  });
  router.patch('/products/:id', async (ctx) => {
    ctx.body = await updateProduct(deps, parseId(ctx.params.id, 'Product'), parse(patchProductBody, ctx.request.body));
  });
  router.post('/products/:id/pause', async (ctx) => {
    ctx.body = await setPaused(deps, parseId(ctx.params.id, 'Product'), true);
  });
  router.post('/products/:id/resume', async (ctx) => {
    ctx.body = await setPaused(deps, parseId(ctx.params.id, 'Product'), false);
  });
  router.put('/products/:id/rate', async (ctx) => {
    const { perSecond } = parse(rateBody, ctx.request.body);
    ctx.body = await setRate(deps, parseId(ctx.params.id, 'Product'), perSecond);
  });
  router.get('/products/:id/stats', async (ctx) => {
    ctx.body = await stats(deps, parseId(ctx.params.id, 'Product'));
  });
  router.get('/products/:id/audit', async (ctx) => {
    ctx.body = await auditDrop(deps, parseId(ctx.params.id, 'Product'));
  });
  router.get('/reconcile', async (ctx) => {
    ctx.body = await reconcile(deps);
  });
  return router;
}
