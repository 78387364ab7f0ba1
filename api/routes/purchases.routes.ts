import type { Deps } from '../../shared/deps.ts';
import { admit } from '../../shared/domain/admission/admit.ts';
import { requireUser } from '../middleware/auth.ts';
import { newRouter } from '../router.ts';
import { idempotencyKey, parse, parseId, purchaseBody } from '../schemas.ts';

/** The door of a drop: `202` with a new ticket, `200` with the one the buyer already has. */
export function purchaseRoutes(deps: Deps) {
  const router = newRouter();
  router.post('/products/:id/purchases', requireUser(deps.config), async (ctx) => {
    const productId = parseId(ctx.params.id, 'Product');
    const body = parse(purchaseBody, ctx.request.body ?? {});
    const key = ctx.get('Idempotency-Key');
    const result = await admit(deps, {
      productId,
      userId: ctx.state.userId,
      quantity: body.quantity,
      paymentMethod: body.paymentMethod,
      idempotencyKey: key ? parse(idempotencyKey, key, 'Idempotency-Key') : undefined,
      requestId: ctx.state.requestId,
    });
    ctx.status = result.created ? 202 : 200;
    ctx.set('Location', `/tickets/${result.ticket.ticketId}`);
    ctx.body = result.ticket;
  });
  return router;
}
