import type { Deps } from '../../shared/deps.ts';
import { admit } from '../../shared/domain/admission/admit.ts';
import type { TicketView } from '../../shared/domain/tickets/read-ticket.ts';
import { requireUser } from '../middleware/auth.ts';
import { newRouter } from '../router.ts';
import { idempotencyKey, parse, parseId, purchaseBody } from '../schemas.ts';

/** A purchase as the door sees it, once the body is read and the buyer known. */
export type PurchaseInput = { productId: number; body: unknown; idempotencyKey: string; userId: string; requestId: string };

/** The door of a drop: `202` with a new ticket, `200` with the one the buyer already has. */
export async function purchase(deps: Deps, input: PurchaseInput): Promise<{ status: 200 | 202; ticket: TicketView }> {
  const body = parse(purchaseBody, input.body ?? {});
  const key = input.idempotencyKey;
  const result = await admit(deps, {
    productId: input.productId,
    userId: input.userId,
    quantity: body.quantity,
    paymentMethod: body.paymentMethod,
    idempotencyKey: key ? parse(idempotencyKey, key, 'Idempotency-Key') : undefined,
    requestId: input.requestId,
  });
  return { status: result.created ? 202 : 200, ticket: result.ticket };
}

/** The purchase route for Koa: every purchase the fast door (api/purchase-door.ts) does not take. */
export function purchaseRoutes(deps: Deps) {
  const router = newRouter();
  router.post('/products/:id/purchases', requireUser(deps.config), async (ctx) => {
    const productId = parseId(ctx.params.id, 'Product');
    const { status, ticket } = await purchase(deps, {
      productId, body: ctx.request.body, idempotencyKey: ctx.get('Idempotency-Key'), userId: ctx.state.userId, requestId: ctx.state.requestId,
    });
    ctx.status = status;
    ctx.set('Location', `/tickets/${ticket.ticketId}`);
    ctx.body = ticket;
  });
  return router;
}
